#include <zlib.h>

/// inflateInit2 is a macro; Swift needs a function.
static inline int czlib_inflate_init_gzip(z_stream *strm) {
    return inflateInit2(strm, 15 + 32);
}
