// libjpeg's default error handler calls exit(); ours longjmps back here instead, the only place that
// can (Swift cannot be jumped over), and the failure becomes a status and a message.
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image_codecs.h"

typedef struct {
    /// First, so that libjpeg's pointer to it is a pointer to the whole.
    struct jpeg_error_mgr manager;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    image_codecs_raster *out;
    uint32_t max_scans;
    /// Volatile: written after setjmp and read after the jump back.
    volatile image_codecs_status status;
} jpeg_failure;

static void jpeg_failure_exit(j_common_ptr cinfo) {
    jpeg_failure *failure = (jpeg_failure *)cinfo->err;
    char message[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, message);
    snprintf(failure->out->message, sizeof failure->out->message, "%s", message);
    switch (cinfo->err->msg_code) {
    case JERR_CONVERSION_NOTIMPL:
        // A colour space with no conversion to grey: a valid file of a kind not taken.
        failure->status = IMAGE_CODECS_UNSUPPORTED;
        break;
    case JERR_NO_BACKING_STORE:
    case JERR_OUT_OF_MEMORY:
        // Past max_memory_to_use: the file is within the size limits but needs more working memory.
        snprintf(failure->out->message, sizeof failure->out->message,
                 "decoding it needs more working memory than the limit allows");
        failure->status = IMAGE_CODECS_TOO_COMPLEX;
        break;
    default:
        break;
    }
    longjmp(failure->jump, 1);
}

/// A warning (level -1) ends the decode. Most mean corrupt or truncated data, which libjpeg would paint
/// grey and go on with; the rest (an unknown JFIF revision, stray bytes before a marker) are refused too:
/// strict, and it also refuses the bogus progressions that would cost the most work. Trace messages
/// (levels 0 and up) are ignored.
static void jpeg_failure_message(j_common_ptr cinfo, int level) {
    if (level < 0) jpeg_failure_exit(cinfo);
}

/// Counts progressive scans as they are read, and stops a file with too many.
static void jpeg_failure_progress(j_common_ptr cinfo) {
    jpeg_failure *failure = (jpeg_failure *)cinfo->err;
    j_decompress_ptr decompress = (j_decompress_ptr)cinfo;
    if (decompress->input_scan_number > (int)failure->max_scans) {
        snprintf(failure->out->message, sizeof failure->out->message,
                 "more than %u progressive scans", failure->max_scans);
        failure->status = IMAGE_CODECS_TOO_COMPLEX;
        longjmp(failure->jump, 1);
    }
}

image_codecs_status image_codecs_decode_jpeg(
    const uint8_t *data, size_t size, image_codecs_limits limits, image_codecs_raster *out) {
    memset(out, 0, sizeof *out);
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    memset(&failure, 0, sizeof failure);
    cinfo.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_failure_exit;
    failure.manager.emit_message = jpeg_failure_message;
    failure.out = out;
    failure.max_scans = limits.max_jpeg_scans;
    failure.status = IMAGE_CODECS_DAMAGED;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        image_codecs_release(out);
        return failure.status;
    }
    jpeg_create_decompress(&cinfo);
    failure.progress.progress_monitor = jpeg_failure_progress;
    cinfo.progress = &failure.progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    out->width = cinfo.image_width;
    out->height = cinfo.image_height;
    // The grey pixels, and for a progressive file its whole-image coefficient buffers: 64 two-byte
    // coefficients per 8x8 block of every component (a colour 4:4:4 file needs 6 bytes per pixel).
    uint64_t needed = (uint64_t)out->width * out->height;
    if (cinfo.progressive_mode) {
        for (int component = 0; component < cinfo.num_components; component++) {
            jpeg_component_info *info = &cinfo.comp_info[component];
            needed += (uint64_t)info->width_in_blocks * info->height_in_blocks * DCTSIZE2 * sizeof(JCOEF);
        }
    }
    if (out->width > limits.max_width || out->height > limits.max_height || needed > limits.max_decoded_bytes) {
        out->decoded_bytes = needed;
        failure.status = IMAGE_CODECS_TOO_LARGE;
        longjmp(failure.jump, 1);
    }
    // Beyond what was counted, libjpeg's own tables and row buffers; past it libjpeg would need a backing
    // store, which it has not, and fails (TOO_COMPLEX above).
    uint64_t allowed = limits.max_decoded_bytes + 16 * 1024 * 1024;
    cinfo.mem->max_memory_to_use = allowed < (uint64_t)LONG_MAX ? (long)allowed : LONG_MAX;
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(out->message, sizeof out->message, "CMYK JPEGs are not supported; save it as RGB or grey");
        failure.status = IMAGE_CODECS_UNSUPPORTED;
        longjmp(failure.jump, 1);
    }
    for (jpeg_saved_marker_ptr marker = cinfo.marker_list; marker != NULL; marker = marker->next) {
        if (marker->marker == JPEG_APP0 + 1 && marker->data_length > 6 && memcmp(marker->data, "Exif\0\0", 6) == 0) {
            out->exif_length = marker->data_length - 6;
            out->exif = malloc(out->exif_length);
            if (out->exif == NULL) {
                failure.status = IMAGE_CODECS_OUT_OF_MEMORY;
                longjmp(failure.jump, 1);
            }
            memcpy(out->exif, marker->data + 6, out->exif_length);
            break;
        }
    }
    cinfo.out_color_space = JCS_GRAYSCALE;
    jpeg_start_decompress(&cinfo);
    out->channels = 1;
    size_t row_bytes = (size_t)cinfo.output_width;
    out->pixels = malloc(row_bytes * cinfo.output_height);
    if (out->pixels == NULL) {
        failure.status = IMAGE_CODECS_OUT_OF_MEMORY;
        longjmp(failure.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->pixels + (size_t)cinfo.output_scanline * row_bytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return IMAGE_CODECS_OK;
}
