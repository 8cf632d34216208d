using System.Runtime.Versioning;

// FUSE, /dev/shm and libc: these tests only mean something on Linux.
[assembly: SupportedOSPlatform("linux")]

// Every test mounts, kills or times a daemon: one at a time keeps the timings and the kill
// test's delays meaningful on a two-core CI machine.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
