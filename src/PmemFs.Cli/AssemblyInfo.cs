using System.Runtime.CompilerServices;
using System.Runtime.Versioning;

// libpmem2, statx and device DAX: the CLI only means something on Linux.
[assembly: SupportedOSPlatform("linux")]
[assembly: DisableRuntimeMarshalling]
[assembly: InternalsVisibleTo("PmemFs.Cli.Tests")]
