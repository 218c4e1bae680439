#include <zlib.h>

// inflateInit2 is a macro; Swift can only call functions.
static inline int czlib_inflate_init2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}
