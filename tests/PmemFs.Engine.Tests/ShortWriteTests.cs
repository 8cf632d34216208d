using PmemFs.Format;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// <see cref="FileSystem.WriteWhatFits"/>: write(2) on a full file system writes the longest
/// prefix that fits (ending on a block boundary), ENOSPC only when nothing fits; each attempt
/// all or nothing, flag rules exactly as <see cref="FileSystem.Write"/>.
/// </summary>
public class ShortWriteTests
{
    private const int Bs = 4096;
    private static readonly Credentials RootUser = Credentials.Root;

    private static long Free(EngineFixture t) => t.Fs.StatFs().FreeBlocks;

    private static long SizeOf(EngineFixture t, ulong ino)
    {
        Assert.Equal(Errno.Ok, t.Fs.GetAttr(ino, out var a));
        return a.Size;
    }

    /// <summary>Leaves exactly <paramref name="left"/> free blocks, in a file of its own.</summary>
    private static ulong FillLeaving(EngineFixture t, long left)
    {
        ulong filler = t.CreateFile(Root, "filler");
        t.Write(filler, 0, new byte[(Free(t) - left) * Bs]);
        Assert.Equal(left, Free(t));
        return filler;
    }

    [Fact]
    public void WriteLargerThanFreeSpaceWritesExactlyTheBlocksThatFit()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        long free = Free(t);
        var data = Pattern((int)((free + 3) * Bs + 1000), 11);

        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, 0, data, RootUser, out int written));

        Assert.Equal(free * Bs, written);
        Assert.Equal(free * Bs, SizeOf(t, f));
        Assert.Equal(0, Free(t));
        Assert.Equal(data.AsSpan(0, written).ToArray(), t.ReadAll(f));
        t.Remount();
        Assert.Equal(free * Bs, SizeOf(t, f));
        Assert.Equal(0, Free(t));
        Assert.Equal(data.AsSpan(0, written).ToArray(), t.ReadAll(f));
    }

    [Fact]
    public void WriteThatFitsIsWrittenWhole()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        var data = Pattern(3 * Bs + 17, 12);
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, 5, data, RootUser, out int written));
        Assert.Equal(data.Length, written);
        Assert.Equal(5 + data.Length, SizeOf(t, f));
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, 0, [], RootUser, out written));
        Assert.Equal(0, written);
    }

    [Fact]
    public void WriteWhenNothingFitsIsEnospcWithNothingChangedAndNothingAllocated()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        var head = Pattern(2 * Bs, 2);
        t.Write(f, 0, head);
        FillLeaving(t, 0);
        Assert.Equal(Errno.Ok, t.Fs.GetAttr(f, out var before));
        ulong empty = t.CreateFile(Root, "empty");

        // At a block-aligned EOF, past EOF with a hole, and into an empty file: nothing fits.
        Assert.Equal(Errno.ENOSPC, t.Fs.WriteWhatFits(f, 2 * Bs, Pattern(10, 3), RootUser, out int written));
        Assert.Equal(0, written);
        Assert.Equal(Errno.ENOSPC, t.Fs.WriteWhatFits(f, 5 * Bs + 7, Pattern(3 * Bs, 3), RootUser, out written));
        Assert.Equal(0, written);
        Assert.Equal(Errno.ENOSPC, t.Fs.WriteWhatFits(empty, 0, Pattern(1, 3), RootUser, out written));
        Assert.Equal(0, written);

        Assert.Equal(Errno.Ok, t.Fs.GetAttr(f, out var after));
        Assert.Equal(before.Size, after.Size);
        Assert.Equal(before.MtimeNs, after.MtimeNs);
        Assert.Equal(0, SizeOf(t, empty));
        Assert.Equal(0, Free(t));
        Assert.Equal(head, t.ReadAll(f));
        t.Remount();
        Assert.Equal(0, Free(t));
        Assert.Equal(head, t.ReadAll(f));
        Assert.Equal(0, SizeOf(t, empty));
    }

    [Fact]
    public void OverwriteOfMappedBlocksOnAFullFileSystemSucceedsWhole()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        long free = Free(t);
        t.Write(f, 0, new byte[free * Bs]);
        Assert.Equal(0, Free(t));

        var data = Pattern((int)(free * Bs - 300), 4);
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, 150, data, RootUser, out int written));
        Assert.Equal(data.Length, written);
        Assert.Equal(free * Bs, SizeOf(t, f));
        Assert.Equal(0, Free(t));

        var expected = new byte[free * Bs];
        data.CopyTo(expected, 150);
        Assert.Equal(expected, t.ReadAll(f));
        t.Remount();
        Assert.Equal(expected, t.ReadAll(f));
        Assert.Equal(0, Free(t));
    }

    [Fact]
    public void PreallocatedBlocksCostNothingOnAFullFileSystem()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.Default, 0, 4 * Bs, RootUser));
        FillLeaving(t, 0);
        var data = Pattern(4 * Bs, 5);
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, 0, data, RootUser, out int written));
        Assert.Equal(data.Length, written);
        Assert.Equal(data, t.ReadAll(f));
    }

    [Fact]
    public void WriteAcrossMappedBlocksAndEofStopsAtTheFirstBlockThatDoesNotFit()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        var old = Pattern(3 * Bs - 100, 6); // EOF 100 bytes before the end of block 2
        t.Write(f, 0, old);
        FillLeaving(t, 1);

        // Blocks 1 and 2 are mapped, block 3 takes the last free block, block 4 does not fit.
        var data = Pattern(4 * Bs, 7);
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, Bs + 10, data, RootUser, out int written));
        Assert.Equal(4 * Bs - (Bs + 10), written);
        Assert.Equal(4 * Bs, SizeOf(t, f));
        Assert.Equal(0, Free(t));

        var expected = new byte[4 * Bs];
        old.CopyTo(expected, 0);
        data.AsSpan(0, written).CopyTo(expected.AsSpan(Bs + 10));
        Assert.Equal(expected, t.ReadAll(f));

        // Now full: a write at the block-aligned EOF is ENOSPC; one into the last block is whole.
        Assert.Equal(Errno.ENOSPC, t.Fs.WriteWhatFits(f, 4 * Bs, data, RootUser, out written));
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, 4 * Bs - 5, data.AsSpan(0, 5), RootUser, out written));
        Assert.Equal(5, written);
        t.Remount();
        Assert.Equal(4 * Bs, SizeOf(t, f));
        Assert.Equal(0, Free(t));
    }

    [Fact]
    public void WriteInsideTheLastPartialBlockEndsThereWhenTheNextBlockDoesNotFit()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, Pattern(Bs - 100, 8));
        FillLeaving(t, 0);
        var data = Pattern(300, 9);
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, Bs - 100, data, RootUser, out int written));
        Assert.Equal(100, written);
        Assert.Equal(Bs, SizeOf(t, f));
        Assert.Equal(data.AsSpan(0, 100).ToArray(), t.ReadAll(f).AsSpan(Bs - 100).ToArray());
    }

    [Fact]
    public void UnalignedStartWritesUpToTheLastBlockThatFits()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong g = t.CreateFile(Root, "g");
        FillLeaving(t, 3);

        // [1000, 1000 + 5 blocks) spans file blocks 0..5; 0, 1 and 2 fit.
        var data = Pattern(5 * Bs, 10);
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(g, 1000, data, RootUser, out int written));
        Assert.Equal(3 * Bs - 1000, written);
        Assert.Equal(3 * Bs, SizeOf(t, g));
        Assert.Equal(0, Free(t));

        var expected = new byte[3 * Bs];
        data.AsSpan(0, written).CopyTo(expected.AsSpan(1000));
        Assert.Equal(expected, t.ReadAll(g));
        t.Remount();
        Assert.Equal(expected, t.ReadAll(g));
        Assert.Equal(0, Free(t));
    }

    [Fact]
    public void WriteIntoAHoleBeforeMappedBlocksStopsAtTheHole()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 4 * Bs, Pattern(Bs, 13)); // blocks 0..3 a hole, block 4 mapped
        FillLeaving(t, 2);
        var data = Pattern(5 * Bs, 14);
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, 0, data, RootUser, out int written));
        Assert.Equal(2 * Bs, written);
        Assert.Equal(5 * Bs, SizeOf(t, f));
        Assert.Equal(data.AsSpan(0, 2 * Bs).ToArray(), t.ReadAll(f).AsSpan(0, 2 * Bs).ToArray());
        Assert.Equal(0, Free(t));
    }

    /// <summary>
    /// Free blocks enough, extent slots not: the first attempt fails and the write halves until
    /// one fits; the failed attempts leave nothing allocated (blocks and slots both).
    /// </summary>
    [Fact]
    public void FailedAttemptsLeaveNothingAllocated()
    {
        using var t = new EngineFixture(size: 16L << 20, inodes: 16);
        // Free space in single blocks: a file of 2M blocks, the rest filled, every other block punched.
        const int M = 40;
        ulong frag = t.CreateFile(Root, "frag");
        t.Write(frag, 0, new byte[2 * M * Bs]);
        FillLeaving(t, 0);
        for (int i = 1; i < 2 * M; i += 2)
            Assert.Equal(Errno.Ok, t.Fs.Fallocate(frag, FallocateMode.PunchHole | FallocateMode.KeepSize, (long)i * Bs, Bs, RootUser));
        Assert.Equal(M, Free(t));

        // Only three extent slots left (taken in memory only: a remount forgets them).
        while (t.Fs.ExtentSlots.Free > 3) Assert.True(t.Fs.ExtentSlots.Allocate() >= 0);
        ulong g = t.CreateFile(Root, "g");
        long slotsBefore = t.Fs.ExtentSlots.Free, rmapsBefore = t.Fs.RmapSlots.Free;

        var data = Pattern(16 * Bs, 15);
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(g, 0, data, RootUser, out int written));
        Assert.True(written > 0 && written < data.Length && written % Bs == 0, $"written {written}");
        long blocks = written / Bs;
        Assert.Equal(M - blocks, Free(t));
        Assert.True(slotsBefore - t.Fs.ExtentSlots.Free <= blocks);
        Assert.True(rmapsBefore - t.Fs.RmapSlots.Free <= blocks);
        Assert.Equal(written, SizeOf(t, g));
        Assert.Equal(data.AsSpan(0, written).ToArray(), t.ReadAll(g));

        // The plain write keeps its all-or-nothing contract.
        Assert.Equal(Errno.ENOSPC, t.Fs.Write(g, written, data, RootUser, out int all));
        Assert.Equal(0, all);
        Assert.Equal(M - blocks, Free(t));

        t.Remount();
        Assert.Equal(M - blocks, Free(t));
        Assert.Equal(data.AsSpan(0, written).ToArray(), t.ReadAll(g));
    }

    [Fact]
    public void FlagsRefuseWhatFitsExactlyAsTheyRefuseWrite()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong imm = t.CreateFile(Root, "imm");
        t.Write(imm, 0, Pattern(Bs, 16));
        Assert.Equal(Errno.Ok, t.Fs.SetFlags(imm, InodeFlags.Immutable, 0, RootUser, out _));
        ulong app = t.CreateFile(Root, "app");
        t.Write(app, 0, Pattern(Bs, 17));
        Assert.Equal(Errno.Ok, t.Fs.SetFlags(app, InodeFlags.Append, 0, RootUser, out _));
        ulong dir = t.MakeDir(Root, "d");

        foreach (bool full in new[] { false, true })
        {
            if (full) FillLeaving(t, 0);
            Assert.Equal(Errno.EPERM, t.Fs.WriteWhatFits(imm, 0, Pattern(10, 18), RootUser, out int written));
            Assert.Equal(0, written);
            Assert.Equal(Errno.EPERM, t.Fs.WriteWhatFits(imm, Bs, Pattern(10, 18), RootUser, out written));
            Assert.Equal(Errno.EPERM, t.Fs.WriteWhatFits(app, 0, Pattern(10, 18), RootUser, out written));
            Assert.Equal(Errno.EISDIR, t.Fs.WriteWhatFits(dir, 0, Pattern(10, 18), RootUser, out written));
            Assert.Equal(Errno.EINVAL, t.Fs.WriteWhatFits(imm, -1, Pattern(10, 18), RootUser, out written));
        }
        // Appending is allowed; on a full file system at a block-aligned EOF nothing fits.
        Assert.Equal(Errno.ENOSPC, t.Fs.WriteWhatFits(app, Bs, Pattern(10, 18), RootUser, out int w));
        Assert.Equal(0, w);
        Assert.Equal(Pattern(Bs, 16), t.ReadAll(imm));
    }

    [Fact]
    public void DaxImmutableTakesOnlyMappedWritebackInPlaceEvenWhenFull()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, Pattern(3 * Bs, 19));
        Assert.Equal(Errno.Ok, t.Fs.SetFlags(f, InodeFlags.Dax | InodeFlags.DaxImmutable, 0, RootUser, out _));
        FillLeaving(t, 0);

        var data = Pattern(2 * Bs, 20);
        Assert.Equal(Errno.EPERM, t.Fs.WriteWhatFits(f, 0, data, RootUser, out int written));
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(f, 100, data, RootUser, out written, WriteOrigin.MappedWriteback));
        Assert.Equal(data.Length, written);
        // Past EOF it would need a metadata change: refused, as by Write.
        Assert.Equal(Errno.EPERM, t.Fs.WriteWhatFits(f, 3 * Bs - 5, data, RootUser, out _, WriteOrigin.MappedWriteback));
        var expected = Pattern(3 * Bs, 19);
        data.CopyTo(expected, 100);
        Assert.Equal(expected, t.ReadAll(f));
    }
}
