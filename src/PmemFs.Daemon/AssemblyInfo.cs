using System.Runtime.Versioning;

// FUSE, /proc, libpmem2 and Unix file modes: the daemon only means something on Linux.
[assembly: SupportedOSPlatform("linux")]
