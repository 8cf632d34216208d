using PmemFs.Engine;
using PmemFs.Format;

namespace PmemFs.Check.Tests;

/// <summary>
/// The per-inode flag rules of docs/flags.md: dax only on regular files and directories;
/// dax_immutable only on a regular file with dax whose map is complete and written. The flags
/// are written straight into the inode records (through the Format layer, checksum recomputed),
/// as a damaged or hand-made image would hold them.
/// </summary>
public sealed class FlagInvariantTests : IDisposable
{
    private const int Bs = FormatConstants.BlockSize;
    private const InodeFlags DaxImmutable = InodeFlags.Dax | InodeFlags.DaxImmutable;
    private readonly TestImage _img = new();

    public void Dispose() => _img.Dispose();

    private void SetFlags(ulong ino, InodeFlags flags) => _img.WriteInode(_img.ReadInode(ino) with { Flags = (ulong)flags });

    private InodeFlags Flags(ulong ino) => (InodeFlags)_img.ReadInode(ino).Flags;

    /// <summary>A regular file of <paramref name="length"/> bytes, every block written.</summary>
    private ulong Written(string name, int length, int seed)
    {
        ulong ino = _img.File(TestImage.Root, name);
        if (length > 0) _img.Write(ino, 0, TestImage.Pattern(length, seed));
        return ino;
    }

    /// <summary>Checks, expects exactly the flag findings <paramref name="expected"/> (where, text), all at inode records.</summary>
    private FsckReport CheckFinds(params (ulong Ino, string Text)[] expected)
    {
        var report = _img.Check();
        foreach (var (ino, text) in expected) ReportAssert.Has(report, $"inode {ino}", text);
        Assert.True(report.Problems.Count == expected.Length, "unexpected problems:\n" + ReportAssert.Render(report));
        return report;
    }

    private RepairReport Repair() => RepairAssert.RepairsCleanly(_img);

    private static RepairChange Has(RepairReport report, string where, string text) => RepairAssert.Has(report, where, text);

    private static string Render(RepairReport report) => RepairAssert.Render(report);

    /// <summary>The file's extents as records (slots and all), to show a repair left the map alone.</summary>
    private List<(long Slot, ExtentRecord Rec)> Map(ulong ino) => _img.Extents(ino);

    [Fact]
    public void ValidDaxAndDaxImmutableFilesAreClean()
    {
        ulong dir = _img.Dir(TestImage.Root, "daxdir");
        ulong plain = Written("dax", 3 * Bs, 1);
        ulong frozen = Written("frozen", 5 * Bs + 100, 2); // partial last block: 6 blocks, all written
        ulong empty = Written("empty", 0, 3);              // no blocks below EOF: nothing to be missing
        _img.Unmount();
        SetFlags(dir, InodeFlags.Dax);
        SetFlags(plain, InodeFlags.Dax);
        SetFlags(frozen, DaxImmutable);
        SetFlags(empty, DaxImmutable | InodeFlags.Immutable);
        ReportAssert.Clean(_img.Check());
        var nothing = FsckRepair.Repair(_img.Media, new FsckOptions());
        Assert.False(nothing.Changed, "a repair of a clean image changed something:\n" + Render(nothing));
        Assert.Equal(DaxImmutable, Flags(frozen));
    }

    [Fact]
    public void OtherFlagsAreValidOnEveryInodeType()
    {
        const InodeFlags others = InodeFlags.Immutable | InodeFlags.Append | InodeFlags.NoAtime | InodeFlags.Sync | InodeFlags.NoDump;
        ulong dir = _img.Dir(TestImage.Root, "d");
        ulong file = _img.File(TestImage.Root, "f");
        ulong link = _img.Symlink(TestImage.Root, "l", "f");
        ulong fifo = _img.File(TestImage.Root, "p", 0x11A4);
        _img.Unmount();
        foreach (ulong ino in new[] { TestImage.Root, dir, file, link, fifo }) SetFlags(ino, others);
        ReportAssert.Clean(_img.Check());
    }

    [Fact]
    public void DaxImmutableOnAFileWithAHoleIsReportedAndCleared()
    {
        ulong ino = _img.File(TestImage.Root, "holey");
        _img.Write(ino, 0, TestImage.Pattern(Bs, 1));
        _img.Write(ino, 4L * Bs, TestImage.Pattern(Bs, 2)); // file blocks 1..3 never written
        _img.Unmount();
        SetFlags(ino, DaxImmutable);
        var before = Map(ino);
        var p = ReportAssert.Has(CheckFinds((ino, "dax_immutable but file blocks 1..3 are a hole")), $"inode {ino}", "hole");
        Assert.Equal("dax_immutable but file blocks 1..3 are a hole", p.Message);

        var c = Has(Repair(), $"inode {ino}", "dax_immutable flag cleared (file blocks 1..3 are a hole)");
        Assert.Contains("no block of the file was moved, allocated or converted", c.Message, StringComparison.Ordinal);
        Assert.Equal(InodeFlags.Dax, Flags(ino));
        Assert.Equal(before, Map(ino));
    }

    [Fact]
    public void DaxImmutableOnAFileEndingInAHoleIsReported()
    {
        ulong ino = Written("short", Bs, 1);
        _img.Do(_img.Engine.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 3L * Bs + 1 }, Credentials.Root, out _));
        _img.Unmount();
        SetFlags(ino, DaxImmutable);
        CheckFinds((ino, "dax_immutable but file blocks 1..3 are a hole"));
        Has(Repair(), $"inode {ino}", "dax_immutable flag cleared");
    }

    [Fact]
    public void DaxImmutableOnAPreallocatedFileIsReportedAndCleared()
    {
        ulong ino = _img.File(TestImage.Root, "prealloc");
        _img.Do(_img.Engine.Fallocate(ino, FallocateMode.Default, 0, 4L * Bs, Credentials.Root));
        _img.Unmount();
        SetFlags(ino, DaxImmutable);
        var before = Map(ino);
        Assert.All(before, x => Assert.Equal(ExtentState.Unwritten, x.Rec.State));
        CheckFinds((ino, $"dax_immutable but has an unwritten extent at file block 0 (extent slot {before[0].Slot}"));

        Has(Repair(), $"inode {ino}", "dax_immutable flag cleared (an unwritten extent at file block 0");
        Assert.Equal(InodeFlags.Dax, Flags(ino));
        Assert.Equal(before, Map(ino)); // still unwritten: nothing converted
    }

    [Fact]
    public void DaxImmutableWithAnUnwrittenExtentBeyondEofIsReportedAndCleared()
    {
        ulong ino = Written("keep", 2 * Bs, 1);
        _img.Do(_img.Engine.Fallocate(ino, FallocateMode.KeepSize, 6L * Bs, 2L * Bs, Credentials.Root));
        _img.Unmount();
        SetFlags(ino, DaxImmutable);
        var p = CheckFinds((ino, "dax_immutable but has an unwritten extent at file block 6")).Problems[0];
        Assert.Contains("2 blocks, beyond EOF", p.Message, StringComparison.Ordinal);

        Has(Repair(), $"inode {ino}", "dax_immutable flag cleared (an unwritten extent at file block 6");
        Assert.Equal(InodeFlags.Dax, Flags(ino));
    }

    [Fact]
    public void DaxImmutableWithoutDaxIsReportedAndOnlyItIsCleared()
    {
        ulong ino = Written("nodax", 2 * Bs, 1);
        _img.Unmount();
        SetFlags(ino, InodeFlags.DaxImmutable | InodeFlags.NoDump);
        CheckFinds((ino, "dax_immutable without dax"));

        Has(Repair(), $"inode {ino}", "dax_immutable flag cleared (the file does not have dax)");
        Assert.Equal(InodeFlags.NoDump, Flags(ino)); // dax is not added to make the flag valid
    }

    [Fact]
    public void EveryReasonOfOneFileIsReported()
    {
        ulong ino = _img.File(TestImage.Root, "all");
        _img.Write(ino, 2L * Bs, TestImage.Pattern(Bs, 1));
        _img.Do(_img.Engine.Fallocate(ino, FallocateMode.KeepSize, 8L * Bs, Bs, Credentials.Root));
        _img.Do(_img.Engine.Fallocate(ino, FallocateMode.KeepSize, 12L * Bs, Bs, Credentials.Root));
        _img.Unmount();
        SetFlags(ino, InodeFlags.DaxImmutable);
        CheckFinds(
            (ino, "dax_immutable without dax"),
            (ino, "dax_immutable but file blocks 0..1 are a hole"),
            (ino, "dax_immutable but has an unwritten extent at file block 8 (extent slot"));
        Assert.Contains("and 1 more unwritten extent)", _img.Check().Problems.Single(p => p.Message.Contains("unwritten", StringComparison.Ordinal)).Message, StringComparison.Ordinal);

        var report = Repair();
        Has(report, $"inode {ino}", "dax_immutable flag cleared (the file does not have dax; file blocks 0..1 are a hole; an unwritten extent at file block 8");
        Assert.Single(report.Changes, c => c.Where == $"inode {ino}"); // one change line for the flag
    }

    [Fact]
    public void DaxImmutableOnADirectoryIsReportedAndCleared()
    {
        ulong dir = _img.Dir(TestImage.Root, "dir");
        _img.Unmount();
        SetFlags(dir, DaxImmutable);
        CheckFinds((dir, "dax_immutable on a directory"));

        Has(Repair(), $"inode {dir}", "dax_immutable flag cleared (it is a directory, not a regular file)");
        Assert.Equal(InodeFlags.Dax, Flags(dir)); // dax is valid on a directory and stays
    }

    [Fact]
    public void DaxOnASymlinkIsReportedAndCleared()
    {
        ulong link = _img.Symlink(TestImage.Root, "link", "target");
        _img.Unmount();
        SetFlags(link, InodeFlags.Dax | InodeFlags.NoAtime);
        var p = CheckFinds((link, "dax flag on a symlink")).Problems[0];
        Assert.Equal($"inode {link}: dax flag on a symlink", p.ToString());

        Has(Repair(), $"inode {link}", "dax flag cleared (it is a symlink; dax is allowed only on regular files and directories)");
        Assert.Equal(InodeFlags.NoAtime, Flags(link));
        using var fs = FileSystem.Mount(_img.Media);
        Assert.Equal(Errno.Ok, fs.ReadLink(link, out var target));
        Assert.Equal("target", System.Text.Encoding.UTF8.GetString(target));
    }

    [Fact]
    public void DaxOnAFifoIsReportedAndCleared()
    {
        ulong fifo = _img.File(TestImage.Root, "fifo", 0x11A4);
        _img.Unmount();
        SetFlags(fifo, InodeFlags.Dax);
        CheckFinds((fifo, "dax flag on a fifo"));
        Has(Repair(), $"inode {fifo}", "dax flag cleared (it is a fifo;");
        Assert.Equal(InodeFlags.None, Flags(fifo));
    }

    [Fact]
    public void BothDaxFlagsOnASymlinkAreReportedAndCleared()
    {
        ulong link = _img.Symlink(TestImage.Root, "link", "target");
        _img.Unmount();
        SetFlags(link, DaxImmutable);
        CheckFinds((link, "dax flag on a symlink"), (link, "dax_immutable on a symlink"));

        var report = Repair();
        Has(report, $"inode {link}", "dax flag cleared");
        Has(report, $"inode {link}", "dax_immutable flag cleared (it is a symlink, not a regular file)");
        Assert.Equal(InodeFlags.None, Flags(link));
    }

    [Fact]
    public void DamagedInodeGetsNoFlagFindingsOnTop()
    {
        ulong link = _img.Symlink(TestImage.Root, "link", "target");
        _img.Unmount();
        SetFlags(link, DaxImmutable);
        _img.InodeBytes(link)[30] ^= 0x01; // the record no longer verifies
        var report = _img.Check();
        var p = ReportAssert.Has(report, $"inode {link}", "checksum mismatch");
        Assert.DoesNotContain(report.Problems, x => x.Message.Contains("dax", StringComparison.Ordinal));
        Assert.Equal("checksum mismatch", p.Message);
    }

    [Fact]
    public void DaxImmutableFileThatLosesABlockInRepairLosesTheFlagToo()
    {
        ulong ino = Written("frozen", 3 * Bs, 1);
        _img.Unmount();
        SetFlags(ino, DaxImmutable);
        ReportAssert.Clean(_img.Check());
        var (slot, _) = Assert.Single(_img.Extents(ino));
        _img.ExtentBytes(slot)[20] ^= 0x02; // the only extent no longer verifies: the repair clears it
        var report = _img.Check();
        ReportAssert.Has(report, $"extent slot {slot}", "checksum mismatch");
        ReportAssert.Has(report, $"inode {ino}", "dax_immutable but file blocks 0..2 are a hole");

        var repair = Repair();
        Has(repair, $"extent slot {slot}", "cleared");
        Has(repair, $"inode {ino}", "dax_immutable flag cleared (file blocks 0..2 are a hole)");
        Assert.Equal(InodeFlags.Dax, Flags(ino));
    }

    [Fact]
    public void RepairedDaxImmutableFileKeepsItsDataInPlace()
    {
        ulong ino = _img.File(TestImage.Root, "data");
        var head = TestImage.Pattern(2 * Bs, 1);
        _img.Write(ino, 0, head);
        _img.Do(_img.Engine.Fallocate(ino, FallocateMode.Default, 2L * Bs, 2L * Bs, Credentials.Root));
        _img.Unmount();
        SetFlags(ino, DaxImmutable);
        var before = Map(ino);
        Has(Repair(), $"inode {ino}", "dax_immutable flag cleared");
        Assert.Equal(before, Map(ino));

        using var fs = FileSystem.Mount(_img.Media);
        var got = new byte[4 * Bs + 1];
        Assert.Equal(Errno.Ok, fs.Read(ino, 0, got, out int n));
        Assert.Equal(4 * Bs, n);
        Assert.Equal(head, got[..(2 * Bs)]);
        Assert.All(got[(2 * Bs)..n], b => Assert.Equal(0, b));
    }
}
