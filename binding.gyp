{
  "targets": [
    {
      "target_name": "mount",
      "sources": ["native/mount.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
