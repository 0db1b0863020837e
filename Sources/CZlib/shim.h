#include <zlib.h>

/// `inflateInit2` is a macro, which Swift cannot call; this wraps it for raw
/// deflate streams (no zlib or gzip header), the form ZIP entries use.
static inline int czlib_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -MAX_WBITS);
}

/// A gzip stream (RFC 1952) to inflate: window bits 15, plus 16 for the gzip wrapper.
static inline int czlib_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, MAX_WBITS + 16);
}

/// A gzip stream to deflate at `level`.
static inline int czlib_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY);
}
