using System.Text.Json;
using PmemFs.Cli.Commands;
using PmemFs.Cli.Flags;
using static PmemFs.Abi.PmemFsIoctlAbi;

namespace PmemFs.Cli.Tests;

public sealed class LsattrFormatTests
{
    [Fact]
    public void FlagsAreLongNamesJoinedByCommasThenTwoSpacesAndThePath()
    {
        var e = new LsattrCommand.Entry("/mnt/p/f", FileType.Regular, TestFlags.Of(FlDax | FlDaxImmutable, StateDax | StateCanDax));
        Assert.Equal("dax,dax_immutable  /mnt/p/f", LsattrCommand.FormatLine(e));
    }

    [Fact]
    public void NoFlagsIsADash() =>
        Assert.Equal("-  f", LsattrCommand.FormatLine(new LsattrCommand.Entry("f", FileType.Regular, TestFlags.Of(0, StateCanDax))));

    [Fact]
    public void NamesFollowTheTableOrder() =>
        Assert.Equal("immutable,append,noatime,sync,nodump,dax,dax_immutable", FlagNames.Format(FlAll));

    [Fact]
    public void APendingDaxChangeIsNoted() =>
        Assert.Equal("dax  f (dax: pending)", LsattrCommand.FormatLine(new LsattrCommand.Entry("f", FileType.Regular, TestFlags.Of(FlDax, StateCanDax | StateDaxPending))));

    [Fact]
    public void AFileTheMountModeMakesDaxWithoutTheFlagIsNoted() =>
        Assert.Equal("-  f (dax: on)", LsattrCommand.FormatLine(new LsattrCommand.Entry("f", FileType.Regular, TestFlags.Of(0, StateDax | StateCanDax, DaxModeAlways))));

    [Fact]
    public void AFlaggedFileThatIsNotDaxIsNoted() =>
        Assert.Equal("dax  f (dax: off)", LsattrCommand.FormatLine(new LsattrCommand.Entry("f", FileType.Regular, TestFlags.Of(FlDax, StateCanDax, DaxModeNever))));

    [Fact]
    public void AFlaggedDirectoryNeedsNoNote() =>
        Assert.Equal("dax  d", LsattrCommand.FormatLine(new LsattrCommand.Entry("d", FileType.Directory, TestFlags.Of(FlDax))));

    [Fact]
    public void JsonIsOneArrayOfObjectsWithTheEffectiveState()
    {
        using var output = new StringWriter();
        LsattrCommand.WriteJson(output,
        [
            new LsattrCommand.Entry("f", FileType.Regular, TestFlags.Of(FlDax | FlDaxImmutable, StateDax | StateCanDax)),
            new LsattrCommand.Entry("d", FileType.Directory, TestFlags.Of(0, 0, DaxModeNever, GranularityPage)),
        ]);
        using var doc = JsonDocument.Parse(output.ToString());
        var items = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(2, items.Length);

        var f = items[0];
        Assert.Equal(["path", "flags", "daxEffective", "canBeDax", "daxPending", "daxMode", "storeGranularity"],
            f.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal("f", f.GetProperty("path").GetString());
        Assert.Equal(["dax", "dax_immutable"], f.GetProperty("flags").EnumerateArray().Select(n => n.GetString()!).ToArray());
        Assert.True(f.GetProperty("daxEffective").GetBoolean());
        Assert.True(f.GetProperty("canBeDax").GetBoolean());
        Assert.False(f.GetProperty("daxPending").GetBoolean());
        Assert.Equal("inode", f.GetProperty("daxMode").GetString());
        Assert.Equal("cache line", f.GetProperty("storeGranularity").GetString());

        var d = items[1];
        Assert.Equal(0, d.GetProperty("flags").GetArrayLength());
        Assert.Equal("never", d.GetProperty("daxMode").GetString());
        Assert.Equal("page", d.GetProperty("storeGranularity").GetString());
    }
}
