# The native mount helper (native/mount.c). `npm run native` builds it against the headers of
# the Node that runs npm's scripts (the Node 24 in node_modules), so node-gyp downloads nothing.
{
  "targets": [
    {
      "target_name": "mount",
      "sources": ["native/mount.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
