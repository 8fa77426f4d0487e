// The `node` executable of a runtime slot whose Node.js is Debian's libnode (riscv64: no official
// build exists), built by scripts/prepare-target.mjs with the target's cross compiler as
// <slot>/node/bin/node, with DT_RPATH $ORIGIN/../lib so that libnode and every library it links
// come from <slot>/node/lib (an RPATH, unlike a RUNPATH, also serves the libraries' own needs).
//
// Why not Debian's own /usr/bin/node: Debian builds Node with some builtins "externalized"
// (cjs-module-lexer, undici, acorn, minimatch), read at start-up from absolute paths under
// /usr/share/nodejs/ that libnode names. prepare-target.mjs rewrites those paths, byte for byte the
// same length, to /proc/self/fd/250/...; this entry opens <slot>/node/share/nodejs as descriptor
// 250 (close-on-exec) before Node starts, so each slot reads its own copies, wherever it lives.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

namespace node {
int Start(int argc, char* argv[]);
struct SnapshotData;
class SnapshotBuilder {
 public:
  static const SnapshotData* GetEmbeddedSnapshotData();
};
// libnode asks the executable for a start-up snapshot; like Debian's node, this one has none.
const SnapshotData* SnapshotBuilder::GetEmbeddedSnapshotData() { return nullptr; }
}  // namespace node

static const int kBuiltinsFd = 250;  // must match BUILTINS_FD in scripts/prepare-target.mjs

int main(int argc, char* argv[]) {
  char dir[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 32);
  if (n <= 0) {
    perror("node: /proc/self/exe");
    return 70;
  }
  dir[n] = '\0';
  char* slash = strrchr(dir, '/');
  if (slash == nullptr) return 70;
  strcpy(slash, "/../share/nodejs");
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "node: cannot open %s (the builtins Debian's libnode reads): %s\n", dir, strerror(errno));
    return 70;
  }
  if (fd != kBuiltinsFd) {
    if (dup3(fd, kBuiltinsFd, O_CLOEXEC) < 0) {
      perror("node: dup3");
      return 70;
    }
    close(fd);
  }
  return node::Start(argc, argv);
}
