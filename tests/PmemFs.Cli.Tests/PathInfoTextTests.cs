using PmemFs.Cli.Commands;
using static PmemFs.Abi.PmemFsIoctlAbi;

namespace PmemFs.Cli.Tests;

public sealed class PathInfoTextTests
{
    [Fact]
    public void EffectiveDaxSaysWhy()
    {
        Assert.Equal("yes (flag set, dax=inode)", PathInfo.DaxText(TestFlags.Of(FlDax, StateDax | StateCanDax), isDirectory: false));
        Assert.Equal("yes (dax=always)", PathInfo.DaxText(TestFlags.Of(0, StateDax | StateCanDax, DaxModeAlways), isDirectory: false));
        Assert.Equal("no (mount dax=never)", PathInfo.DaxText(TestFlags.Of(FlDax, StateCanDax, DaxModeNever), isDirectory: false));
        Assert.Equal("no (flag not set)", PathInfo.DaxText(TestFlags.Of(0, StateCanDax), isDirectory: false));
        Assert.Equal("no (only regular files can be DAX)", PathInfo.DaxText(TestFlags.Of(FlDax), isDirectory: false));
        Assert.StartsWith("no (a directory is never DAX", PathInfo.DaxText(TestFlags.Of(FlDax), isDirectory: true), StringComparison.Ordinal);
        Assert.Equal("no now; pending: a DAX change takes effect at the file's last close",
            PathInfo.DaxText(TestFlags.Of(FlDax, StateCanDax | StateDaxPending), isDirectory: false));
    }

    [Fact]
    public void DaxImmutableSaysTheExtentMapIsFrozen()
    {
        Assert.Equal("yes: extent map frozen: direct-access clients may cache it", PathInfo.DaxImmutableText(TestFlags.Of(FlDax | FlDaxImmutable)));
        Assert.Equal("no", PathInfo.DaxImmutableText(TestFlags.Of(FlDax)));
    }

    [Theory]
    [InlineData(GranularityByte, true)]
    [InlineData(GranularityCacheLine, true)]
    [InlineData(GranularityPage, false)]
    public void UserSpaceFlushesSufficeOnlyForADirectMappingWithoutPageGranularity(uint granularity, bool suffices)
    {
        var f = TestFlags.Of(0, 0, DaxModeInode, granularity);
        Assert.Equal(suffices, f.DirectMappingFlushSuffices);
        Assert.StartsWith(suffices ? "yes" : "no", PathInfo.DirectMappingText(f), StringComparison.Ordinal);
        Assert.StartsWith("no for stores through an mmap of this mount", PathInfo.MmapFlushText, StringComparison.Ordinal);
    }
}
