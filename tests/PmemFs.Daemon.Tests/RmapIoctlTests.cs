using PmemFs.Abi;
using PmemFs.Daemon.Operations;
using PmemFs.Engine;
using PmemFs.Format;

namespace PmemFs.Daemon.Tests;

/// <summary>PMEMFS_IOC_RMAP's checks of its struct and cursor, and its kinds against the engine's, without a mount.</summary>
public sealed class RmapIoctlTests
{
    private static PmemFsRmap Good() => new() { Version = PmemFsRmapAbi.Version, Length = PmemFsLeaseAbi.LengthToEnd };

    [Fact]
    public void AFreshStructAndAReturnedPageAreAccepted()
    {
        var a = Good();
        Assert.Equal(Errno.Ok, PmemFsOperations.ValidateRmap(a, out var range, out var after));
        Assert.True(range.IsToEnd);
        Assert.Equal(default, after);
        // A page as it came back: the cursor names a row, count, more and entries hold the page.
        a.CursorKind = PmemFsRmapAbi.KindData;
        a.CursorPhysical = 1 << 20;
        a.CursorIno = 7;
        a.CursorFileOffset = 8192;
        a.Count = 63;
        a.More = 1;
        a.Entries[5].Physical = 123;
        Assert.Equal(Errno.Ok, PmemFsOperations.ValidateRmap(a, out _, out after));
        Assert.Equal(new ReverseMapCursor(1 << 20, ReverseMapKind.Data, 7, 8192), after);
    }

    public static TheoryData<string, int> BadFields() => new()
    {
        { "version 0", 22 }, { "version 2", 22 }, { "flags", 22 }, { "reserved0", 22 }, { "cursor kind 3", 22 }, { "cursor kind 33", 22 },
        { "cursor physical without kind", 22 }, { "cursor ino without kind", 22 }, { "cursor offset without kind", 22 },
        { "cursor physical past INT64_MAX", 22 }, { "cursor offset past INT64_MAX", 22 }, { "length 0", 22 },
        { "offset past INT64_MAX", 22 }, { "length past INT64_MAX", 22 }, { "end overflows", 75 },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public void EveryBadFieldIsRefused(string what, int errno)
    {
        var a = Good();
        switch (what)
        {
            case "version 0": a.Version = 0; break;
            case "version 2": a.Version = 2; break;
            case "flags": a.Flags = 1; break;
            case "reserved0": a.Reserved0 = 1; break;
            case "cursor kind 3": a.CursorKind = 3; break;
            case "cursor kind 33": a.CursorKind = 33; break;
            case "cursor physical without kind": a.CursorPhysical = 4096; break;
            case "cursor ino without kind": a.CursorIno = 2; break;
            case "cursor offset without kind": a.CursorFileOffset = 4096; break;
            case "cursor physical past INT64_MAX": a.CursorKind = 1; a.CursorPhysical = (ulong)long.MaxValue + 1; break;
            case "cursor offset past INT64_MAX": a.CursorKind = 1; a.CursorFileOffset = ulong.MaxValue; break;
            case "length 0": a.Length = 0; break;
            case "offset past INT64_MAX": a.Offset = (ulong)long.MaxValue + 1; break;
            case "length past INT64_MAX": a.Length = (ulong)long.MaxValue + 1; break;
            case "end overflows": a.Offset = 1; a.Length = long.MaxValue; break;
        }
        Assert.Equal(new Errno(errno), PmemFsOperations.ValidateRmap(a, out _, out _));
    }

    [Fact]
    public void TheKindsAreTheEnginesAndTheMediasNumbers()
    {
        Assert.Equal(PmemFsRmapAbi.KindData, (uint)ReverseMapKind.Data);
        Assert.Equal(PmemFsRmapAbi.KindXattr, (uint)ReverseMapKind.Xattr);
        Assert.Equal(PmemFsRmapAbi.KindRefcount, (uint)ReverseMapKind.Refcount);
        foreach (var k in Enum.GetValues<RmapOwnerKind>())
        {
            Assert.True(PmemFsRmapAbi.IsKind((uint)k), k.ToString());
            Assert.Equal(k.ToString().Replace("Inode", "", StringComparison.Ordinal), ((ReverseMapKind)(int)k).ToString().Replace("Inode", "", StringComparison.Ordinal));
        }
        Assert.Equal(Enum.GetValues<RmapOwnerKind>().Length + 1, Enum.GetValues<ReverseMapKind>().Count(k => PmemFsRmapAbi.IsKind((uint)k)));
    }
}
