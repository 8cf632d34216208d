using PmemFs.Cli.Flags;
using PmemFs.Abi;

namespace PmemFs.Cli.Tests;

/// <summary>An ioctl answer as the daemon would give it, for formatting tests without a mount.</summary>
internal static class TestFlags
{
    public static FileFlagReport Of(ulong flags, ulong state = 0, uint daxMode = PmemFsIoctlAbi.DaxModeInode, uint granularity = PmemFsIoctlAbi.GranularityCacheLine) =>
        new(new PmemFsInodeFlags { Flags = flags, State = state, DaxMode = daxMode, Granularity = granularity });
}
