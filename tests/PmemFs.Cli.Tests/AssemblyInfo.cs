using System.Runtime.Versioning;

// libpmem2 and /dev/shm: these tests only mean something on Linux.
[assembly: SupportedOSPlatform("linux")]
