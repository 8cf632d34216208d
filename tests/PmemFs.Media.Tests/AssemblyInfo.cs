using System.Runtime.Versioning;

// libpmem2, /dev/shm, chattr and setenv: these tests only mean something on Linux.
[assembly: SupportedOSPlatform("linux")]
