#ifndef IMAGE_CODECS_H
#define IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/// How a decode ended.
typedef enum {
    IMAGE_CODECS_OK = 0,
    /// The size in the header is over the limits (width, height or decoded bytes); `width` and `height`
    /// hold it. Nothing was allocated for pixels.
    IMAGE_CODECS_TOO_LARGE = 1,
    /// The library refused the data (damaged, truncated, not this format); `message` says why.
    IMAGE_CODECS_DAMAGED = 2,
    /// A valid file of a kind that is not taken (a CMYK JPEG); `message` says which.
    IMAGE_CODECS_UNSUPPORTED = 3,
    IMAGE_CODECS_OUT_OF_MEMORY = 4,
    /// Within the size limits, but over a limit on the work: a JPEG's progressive scans, or the memory
    /// libjpeg would need beyond the pixels; `message` says which.
    IMAGE_CODECS_TOO_COMPLEX = 5,
} image_codecs_status;

/// What a decode may cost, checked from the file's header before any pixel is allocated.
typedef struct {
    uint32_t max_width;
    uint32_t max_height;
    /// Bytes of decoded pixels at most (width x height x channels, after expansion to 8 bits); for a
    /// progressive JPEG, its coefficient buffers (2 bytes per sample of every component) count too.
    uint64_t max_decoded_bytes;
    /// JPEG: progressive scans at most (a file of thousands of tiny scans costs seconds of CPU).
    uint32_t max_jpeg_scans;
} image_codecs_limits;

/// A decoded image: 8 bits per channel, row-major, rows packed.
typedef struct {
    uint32_t width;
    uint32_t height;
    /// 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA.
    uint32_t channels;
    /// `width * height * channels` bytes; released by `image_codecs_release`.
    uint8_t *pixels;
    /// JPEG: the TIFF structure of the first Exif APP1 segment (after "Exif\0\0"), or NULL.
    uint8_t *exif;
    size_t exif_length;
    /// With IMAGE_CODECS_TOO_LARGE: the bytes the decode would have needed (0 when a side was too long).
    uint64_t decoded_bytes;
    /// Why a decode failed, in the library's words.
    char message[256];
} image_codecs_raster;

/// Decodes a PNG: every bit depth, colour type and interlacing, expanded to 8-bit grey, grey and alpha, RGB
/// or RGBA (16-bit samples rounded, palettes and transparency chunks expanded, no gamma applied).
image_codecs_status image_codecs_decode_png(
    const uint8_t *data, size_t size, image_codecs_limits limits, image_codecs_raster *out);

/// Decodes a JPEG (baseline or progressive) to 8-bit grey, keeping its Exif data for the orientation.
/// libjpeg's warnings (corrupt or truncated data) end the decode as errors.
image_codecs_status image_codecs_decode_jpeg(
    const uint8_t *data, size_t size, image_codecs_limits limits, image_codecs_raster *out);

/// Frees what a decode allocated, whatever its status.
void image_codecs_release(image_codecs_raster *raster);

#endif
