#include <stddef.h>
#include <sys/mman.h>

// mremap is variadic (its fifth argument is optional) and Swift cannot call variadic C functions;
// this is the one form the buffer pool uses. glibc declares it only under _GNU_SOURCE, so it is
// declared here as glibc does.
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif
extern void *mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...);

// Moves the pages of [address, address + size) to [destination, destination + size), replacing
// whatever was mapped there: pages change place without being copied or faulted in.
static inline void *cmemory_move(void *address, size_t size, void *destination) {
    return mremap(address, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, destination);
}
