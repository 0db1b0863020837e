#include <zlib.h>

/// `inflateInit2` is a macro, which Swift cannot call; this wraps it for raw
/// deflate streams (no zlib or gzip header), the form ZIP entries use.
static inline int czlib_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -MAX_WBITS);
}
