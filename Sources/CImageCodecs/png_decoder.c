// libpng reports errors by calling a function that must not return; it longjmps back here, the only
// place that can (Swift cannot be jumped over), and the failure becomes a status and a message.
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_codecs.h"

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    image_codecs_raster *out;
    /// Volatile: written after setjmp and read after the jump back.
    volatile image_codecs_status status;
    /// The last warning, which often says what a following error means ("Image width is zero in IHDR"
    /// before "Invalid IHDR data").
    char warning[128];
} png_source;

static void png_source_error(png_structp png, png_const_charp message) {
    png_source *source = png_get_error_ptr(png);
    if (source->warning[0] != 0) {
        snprintf(source->out->message, sizeof source->out->message, "%s (%s)", message, source->warning);
    } else {
        snprintf(source->out->message, sizeof source->out->message, "%s", message);
    }
    png_longjmp(png, 1);
}

/// Warnings (a damaged ancillary chunk, which libpng skips) do not stop the decode; the last is kept.
static void png_source_warning(png_structp png, png_const_charp message) {
    png_source *source = png_get_error_ptr(png);
    snprintf(source->warning, sizeof source->warning, "%s", message);
}

static void png_source_read(png_structp png, png_bytep into, size_t length) {
    png_source *source = png_get_io_ptr(png);
    if (length > source->size - source->offset) {
        png_error(png, "premature end of data");
    }
    memcpy(into, source->data + source->offset, length);
    source->offset += length;
}

/// Ends the decode with `status` from anywhere after the jump point is set.
static void png_source_fail(png_structp png, png_source *source, image_codecs_status status) {
    source->status = status;
    png_longjmp(png, 1);
}

image_codecs_status image_codecs_decode_png(
    const uint8_t *data, size_t size, image_codecs_limits limits, image_codecs_raster *out) {
    memset(out, 0, sizeof *out);
    png_source source = {data, size, 0, out, IMAGE_CODECS_DAMAGED, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_source_error, png_source_warning);
    if (png == NULL) return IMAGE_CODECS_OUT_OF_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        return IMAGE_CODECS_OUT_OF_MEMORY;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(out->pixels);
        out->pixels = NULL;
        png_destroy_read_struct(&png, &info, NULL);
        return source.status;
    }
    png_set_read_fn(png, &source, png_source_read);
    // The size limits are ours (checked below, so that a bomb is "too large", not "damaged"). Text,
    // colour profiles, palettes of suggestions and unknown chunks are skipped unread: nothing here uses
    // them, and a thousand compressed text chunks would each be inflated and kept. What is read of an
    // ancillary chunk may take at most 256 KiB, and at most 32 such chunks are kept.
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_chunk_malloc_max(png, 256 * 1024);
    png_set_chunk_cache_max(png, 32);
    static const png_byte skipped[] = {'t', 'E', 'X', 't', 0, 'z', 'T', 'X', 't', 0, 'i', 'T', 'X', 't', 0,
                                       'i', 'C', 'C', 'P', 0, 's', 'P', 'L', 'T', 0, 'e', 'X', 'I', 'f', 0};
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, (int)(sizeof skipped / 5));
    png_read_info(png, info);
    out->width = png_get_image_width(png, info);
    out->height = png_get_image_height(png, info);
    if (out->width > limits.max_width || out->height > limits.max_height) {
        png_source_fail(png, &source, IMAGE_CODECS_TOO_LARGE);
    }
    png_set_expand(png);
    png_set_scale_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    out->channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    out->decoded_bytes = (uint64_t)row_bytes * out->height;
    if (row_bytes != (size_t)out->width * out->channels || out->decoded_bytes > limits.max_decoded_bytes) {
        png_source_fail(png, &source, IMAGE_CODECS_TOO_LARGE);
    }
    out->pixels = malloc(row_bytes * out->height);
    rows = malloc(sizeof(png_bytep) * out->height);
    if (out->pixels == NULL || rows == NULL) png_source_fail(png, &source, IMAGE_CODECS_OUT_OF_MEMORY);
    for (uint32_t row = 0; row < out->height; row++) rows[row] = out->pixels + (size_t)row * row_bytes;
    png_read_image(png, rows);
    // The chunks after the pixels, to IEND: a file cut short there is refused too.
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return IMAGE_CODECS_OK;
}

void image_codecs_release(image_codecs_raster *raster) {
    free(raster->pixels);
    free(raster->exif);
    raster->pixels = NULL;
    raster->exif = NULL;
    raster->exif_length = 0;
}
