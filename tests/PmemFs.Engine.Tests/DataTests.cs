using PmemFs.Media;
using PmemFs.Format;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

public class DataTests
{
    [Fact]
    public void WrittenBytesReadBackAfterRemount()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        var data = Pattern(300_000, 7);
        t.Write(f, 0, data);
        t.Remount();
        Assert.Equal(data, t.ReadAll(f));
    }

    [Fact]
    public void WriteBeyondEofLeavesAHoleThatReadsZeros()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, N("head"));
        t.Write(f, 1 << 20, N("tail"));
        var all = t.ReadAll(f);
        Assert.Equal((1 << 20) + 4, all.Length);
        Assert.True(all.AsSpan(4, (1 << 20) - 4).IndexOfAnyExcept((byte)0) < 0);
        t.Fs.GetAttr(f, out var a);
        Assert.Equal(2 * 8, a.Blocks512); // two 4 KiB blocks allocated, the rest is a hole
    }

    [Fact]
    public void OverwriteInTheMiddleKeepsTheRest()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        var model = Pattern(50_000, 1);
        t.Write(f, 0, model);
        var patch = Pattern(7_000, 2);
        t.Write(f, 12_345, patch);
        patch.CopyTo(model, 12_345);
        t.Remount();
        Assert.Equal(model, t.ReadAll(f));
    }

    [Fact]
    public void SequentialAppendsStayOneExtent()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        for (int i = 0; i < 64; i++) t.Write(f, i * 4096L, Pattern(4096, i));
        var inode = t.Fs.InodeAt(f)!;
        Assert.Equal(1, inode.Extents.Count);
    }

    [Fact]
    public void TruncateDownThenUpReadsZerosWhereDataWas()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, Pattern(10_000, 3));
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 100 }, Credentials.Root, out var a));
        Assert.Equal(100, a.Size);
        Assert.Equal(8, a.Blocks512);
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 10_000 }, Credentials.Root, out _));
        var all = t.ReadAll(f);
        Assert.Equal(Pattern(10_000, 3).AsSpan(0, 100).ToArray(), all[..100]);
        Assert.True(all.AsSpan(100).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void WriteBeyondATruncatedTailInTheSameBlockReadsZerosBetween()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, Enumerable.Repeat((byte)0xAA, 4096).ToArray());
        t.Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 10 }, Credentials.Root, out _);
        t.Write(f, 3000, N("z"));
        var all = t.ReadAll(f);
        Assert.Equal(3001, all.Length);
        Assert.True(all.AsSpan(10, 2990).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void TruncateOfAVeryFragmentedFileFinishesInSeveralTransactionsAndFreesEverything()
    {
        using var t = new EngineFixture(size: 128L << 20);
        ulong f = t.CreateFile(Root, "frag");
        // Every other block: each is its own extent.
        for (int i = 0; i < 3000; i++) t.Write(f, i * 8192L, Pattern(100, i));
        Assert.Equal(3000, t.Fs.InodeAt(f)!.Extents.Count);
        long tx0 = t.Fs.CommittedTransactions;
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 0 }, Credentials.Root, out var a));
        Assert.True(t.Fs.CommittedTransactions - tx0 >= 3);
        Assert.Equal(0, a.Blocks512);
        Assert.Equal(0, t.Fs.InodeAt(f)!.Rec.PendingTrim);
        t.Remount();
        t.Fs.GetAttr(f, out a);
        Assert.Equal(0, a.Size);
        Assert.Equal(0, a.Blocks512);
    }

    [Fact]
    public void InterruptedTruncateIsFinishedAtMountAndNeverShowsHalfTheFile()
    {
        using var t = new EngineFixture(size: 128L << 20);
        ulong f = t.CreateFile(Root, "frag");
        for (int i = 0; i < 3000; i++) t.Write(f, i * 8192L, Pattern(100, i));
        long freeBefore = t.Fs.StatFs().FreeBlocks;
        // Do only the truncate's first transaction (size 0 plus the trim intent), then "crash".
        var inode = t.Fs.InodeAt(f)!;
        inode.Lock.EnterWriteLock();
        try
        {
            using var tx = Txn.Begin(t.Fs);
            var rec = inode.Rec;
            t.Fs.TruncateLocked(inode, 0, Credentials.Root, tx, ref rec);
            Assert.NotEqual(0, rec.PendingTrim);
            t.Fs.LogInode(tx, rec);
            tx.OnCommit(() => inode.Rec = rec);
            tx.Commit(); // crash here: size is 0, blocks not yet freed
        }
        finally { inode.Lock.ExitWriteLock(); }
        using var copy = MemoryMedia.CopyOf(t.Media);
        using (var crashed = FileSystem.Mount(copy))
        {
            Assert.Equal(1, crashed.Report.TrimsFinished);
            crashed.GetAttr(f, out var a);
            Assert.Equal(0, a.Size);
            Assert.Equal(0, a.Blocks512);
            Assert.Equal(freeBefore + 3000, crashed.StatFs().FreeBlocks);
        }
    }

    [Fact]
    public void FallocateAllocatesUnwrittenBlocksThatReadAsZeros()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        long free = t.Fs.StatFs().FreeBlocks;
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.Default, 0, 1 << 20, Credentials.Root));
        Assert.Equal(free - 256, t.Fs.StatFs().FreeBlocks);
        t.Fs.GetAttr(f, out var a);
        Assert.Equal(1 << 20, a.Size);
        Assert.True(t.ReadAll(f).AsSpan().IndexOfAnyExcept((byte)0) < 0);
        Assert.All(t.Fs.InodeAt(f)!.Extents.All, e => Assert.Equal(ExtentState.Unwritten, e.State));
    }

    [Fact]
    public void FreedBlocksNeverShowTheirOldContentsInAnotherFile()
    {
        using var t = new EngineFixture(size: 32L << 20);
        ulong secret = t.CreateFile(Root, "secret");
        var fill = Enumerable.Repeat((byte)0x5A, 1 << 20).ToArray();
        t.Write(secret, 0, fill);
        t.Fs.Unlink(Root, N("secret"));
        ulong f = t.CreateFile(Root, "new");
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.Default, 0, 1 << 20, Credentials.Root));
        t.Write(f, 100, N("x"));        // converts one unwritten block
        t.Write(f, 500_000, N("y"));
        var all = t.ReadAll(f);
        Assert.Equal(2, all.Count(b => b != 0));
        ulong g = t.CreateFile(Root, "g");
        t.Write(g, 5, N("q"));          // a new block, partially written
        Assert.Equal(1, t.ReadAll(g).Count(b => b != 0));
    }

    [Fact]
    public void FallocateKeepSizeDoesNotChangeTheSize()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, N("abc"));
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.KeepSize, 0, 1 << 20, Credentials.Root));
        t.Fs.GetAttr(f, out var a);
        Assert.Equal(3, a.Size);
        Assert.Equal(256 * 8, a.Blocks512);
        Assert.Equal(N("abc"), t.ReadAll(f));
    }

    [Fact]
    public void PunchHoleZerosPartialBlocksAndFreesWholeOnes()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        var model = Pattern(40_000, 9);
        t.Write(f, 0, model);
        long free = t.Fs.StatFs().FreeBlocks;
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.PunchHole | FallocateMode.KeepSize, 1000, 20_000, Credentials.Root));
        Array.Clear(model, 1000, 20_000);
        Assert.Equal(model, t.ReadAll(f));
        Assert.Equal(free + 4, t.Fs.StatFs().FreeBlocks); // blocks 1..4 whole
        Assert.Equal(Errno.EOPNOTSUPP, t.Fs.Fallocate(f, FallocateMode.PunchHole, 0, 10, Credentials.Root));
        t.Remount();
        Assert.Equal(model, t.ReadAll(f));
    }

    [Fact]
    public void ZeroRangeZerosAndKeepsSpaceAllocated()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        var model = Pattern(40_000, 10);
        t.Write(f, 0, model);
        long free = t.Fs.StatFs().FreeBlocks;
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.ZeroRange, 5000, 30_000, Credentials.Root));
        Array.Clear(model, 5000, 30_000);
        Assert.Equal(model, t.ReadAll(f));
        Assert.Equal(free, t.Fs.StatFs().FreeBlocks);
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.ZeroRange, 39_000, 20_000, Credentials.Root));
        t.Fs.GetAttr(f, out var a);
        Assert.Equal(59_000, a.Size);
    }

    [Fact]
    public void UnsupportedFallocateModesAreRefused()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        Assert.Equal(Errno.EOPNOTSUPP, t.Fs.Fallocate(f, FallocateMode.CollapseRange, 0, 4096, Credentials.Root));
        Assert.Equal(Errno.EINVAL, t.Fs.Fallocate(f, FallocateMode.Default, 0, 0, Credentials.Root));
        Assert.Equal(Errno.EISDIR, t.Fs.Fallocate(Root, FallocateMode.Default, 0, 4096, Credentials.Root));
    }

    [Fact]
    public void SeekDataAndHoleFindTheWrittenRanges()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 8192, Pattern(4096, 1));
        t.Write(f, 65536, Pattern(100, 2));
        Assert.Equal(Errno.Ok, t.Fs.Seek(f, 0, SeekWhence.Data, out long d));
        Assert.Equal(8192, d);
        Assert.Equal(Errno.Ok, t.Fs.Seek(f, 8192, SeekWhence.Hole, out long h));
        Assert.Equal(12288, h);
        Assert.Equal(Errno.Ok, t.Fs.Seek(f, 12288, SeekWhence.Data, out d));
        Assert.Equal(65536, d);
        Assert.Equal(Errno.Ok, t.Fs.Seek(f, 65536, SeekWhence.Hole, out h));
        Assert.Equal(65636, h); // EOF is a hole
        Assert.Equal(Errno.ENXIO, t.Fs.Seek(f, 65636, SeekWhence.Data, out _));
    }

    [Fact]
    public void FullFileSystemGivesEnospcWithNothingHalfWritten()
    {
        using var t = new EngineFixture(size: 16L << 20);
        ulong f = t.CreateFile(Root, "fill");
        long free = t.Fs.StatFs().FreeBlocks;
        var tooBig = new byte[(free + 1) * 4096];
        Assert.Equal(Errno.ENOSPC, t.Fs.Write(f, 0, tooBig, Credentials.Root, out _));
        t.Fs.GetAttr(f, out var a);
        Assert.Equal(0, a.Size);
        Assert.Equal(free, t.Fs.StatFs().FreeBlocks);
        t.Write(f, 0, new byte[free * 4096]);
        Assert.Equal(0, t.Fs.StatFs().FreeBlocks);
        Assert.Equal(Errno.ENOSPC, t.Fs.Fallocate(f, FallocateMode.Default, free * 4096, 4096, Credentials.Root));
        t.Remount();
        t.Fs.GetAttr(f, out a);
        Assert.Equal(free * 4096, a.Size);
    }

    [Fact]
    public void WriteByNonRootClearsSetuid()
    {
        using var t = new EngineFixture();
        var user = new Credentials(1000, 1000);
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("f"), FileTypes.Regular | 0x800 | 0x1ED, user, out var f));
        Assert.Equal(Errno.Ok, t.Fs.Write(f.Ino, 0, N("x"), user, out _));
        t.Fs.GetAttr(f.Ino, out var a);
        Assert.Equal(0u, a.Mode & 0x800);
    }

    [Fact]
    public void WritesUpdateMtimeAndReadsFollowRelatime()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Fs.GetAttr(f, out var before);
        Thread.Sleep(5);
        t.Write(f, 0, N("x"));
        t.Fs.GetAttr(f, out var after);
        Assert.True(after.MtimeNs > before.MtimeNs);
        t.Fs.Read(f, 0, new byte[1], out _);
        t.Fs.GetAttr(f, out var read1);
        Assert.True(read1.AtimeNs > after.MtimeNs);
        t.Fs.Read(f, 0, new byte[1], out _);
        t.Fs.GetAttr(f, out var read2);
        Assert.Equal(read1.AtimeNs, read2.AtimeNs); // relatime: no second update
    }

    /// <summary>The atime a mount of the media as it is now would see (a crash now): through a private copy-on-write view.</summary>
    private static long AtimeOnMedia(EngineFixture t, ulong ino)
    {
        using var view = FileSystem.Mount(new CopyOnWriteOverlay(t.Media), new FileSystemOptions { ReadOnly = true });
        Assert.Equal(Errno.Ok, view.GetAttr(ino, out var a));
        return a.AtimeNs;
    }

    [Fact]
    public void AccessTimesGoToTheMediaWithTheNextChangeInBatchesAndAtUnmountNeverPerRead()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, N("x"));
        t.Fs.GetAttr(f, out var written);
        Thread.Sleep(2);
        t.Fs.Read(f, 0, new byte[1], out _);
        t.Fs.GetAttr(f, out var read);
        Assert.True(read.AtimeNs > written.MtimeNs); // relatime moved it, in memory
        Assert.Equal(written.AtimeNs, AtimeOnMedia(t, f)); // no transaction for a read
        Assert.Equal(1, t.Fs.LazyAtimeCount);

        // The inode's next change logs its whole record, access time included.
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x180 }, Credentials.Root, out _));
        Assert.Equal(read.AtimeNs, AtimeOnMedia(t, f));

        // Enough waiting inodes are written together, without a change of their own.
        var files = Enumerable.Range(0, FileSystem.LazyAtimeBatch).Select(i => t.CreateFile(Root, $"b{i}")).ToArray();
        foreach (var b in files) t.Write(b, 0, N("y"));
        Thread.Sleep(2);
        foreach (var b in files) t.Fs.Read(b, 0, new byte[1], out _);
        Assert.True(t.Fs.LazyAtimeCount < 2, $"{t.Fs.LazyAtimeCount} access times still waiting"); // the batch went at 1024 (f was waiting too)
        t.Fs.GetAttr(files[0], out var first);
        Assert.Equal(first.AtimeNs, AtimeOnMedia(t, files[0]));

        // And at unmount.
        t.Write(f, 0, N("z"));
        Thread.Sleep(2);
        t.Fs.Read(f, 0, new byte[1], out _);
        t.Fs.GetAttr(f, out var beforeUnmount);
        Assert.NotEqual(beforeUnmount.AtimeNs, AtimeOnMedia(t, f));
        var again = t.Remount();
        again.GetAttr(f, out var remounted);
        Assert.Equal(beforeUnmount.AtimeNs, remounted.AtimeNs);
    }

    [Fact]
    public void ChmodAndChownFollowOwnershipRules()
    {
        using var t = new EngineFixture();
        var owner = new Credentials(1000, 1000);
        var other = new Credentials(2000, 2000);
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("f"), FileTypes.Regular | 0x800 | 0x1ED, owner, out var f));
        Assert.Equal(Errno.EPERM, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1FF }, other, out _));
        Assert.Equal(Errno.EPERM, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Uid, Uid = 2000 }, owner, out _));
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Uid, Uid = 2000 }, Credentials.Root, out var a));
        Assert.Equal(2000u, a.Uid);
        Assert.Equal(0u, a.Mode & 0x800); // chown clears setuid
    }

    [Fact]
    public void XattrsRoundTripAndPersist()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        Assert.Equal(Errno.Ok, t.Fs.SetXattr(f, N("user.a"), N("1"), XattrSetFlags.None));
        Assert.Equal(Errno.Ok, t.Fs.SetXattr(f, N("user.big"), Pattern(60_000, 4), XattrSetFlags.Create));
        Assert.Equal(Errno.EEXIST, t.Fs.SetXattr(f, N("user.a"), N("2"), XattrSetFlags.Create));
        Assert.Equal(Errno.ENODATA, t.Fs.SetXattr(f, N("user.none"), N("2"), XattrSetFlags.Replace));
        Assert.Equal(Errno.Ok, t.Fs.SetXattr(f, N("user.a"), N("22"), XattrSetFlags.Replace));
        t.Remount();
        Assert.Equal(Errno.Ok, t.Fs.GetXattr(f, N("user.a"), out var v));
        Assert.Equal(N("22"), v);
        Assert.Equal(Errno.Ok, t.Fs.GetXattr(f, N("user.big"), out v));
        Assert.Equal(Pattern(60_000, 4), v);
        Assert.Equal(Errno.Ok, t.Fs.ListXattr(f, out var names));
        Assert.Equal(2, names.Count);
        Assert.Equal(Errno.Ok, t.Fs.RemoveXattr(f, N("user.big")));
        Assert.Equal(Errno.ENODATA, t.Fs.GetXattr(f, N("user.big"), out _));
        Assert.Equal(Errno.ENODATA, t.Fs.RemoveXattr(f, N("user.big")));
        // One 64 KiB value fits beside "user.a"; a second does not (the per-inode total is 68 KiB).
        Assert.Equal(Errno.Ok, t.Fs.SetXattr(f, N("user.c"), Pattern(65536, 1), XattrSetFlags.None));
        Assert.Equal(Errno.ENOSPC, t.Fs.SetXattr(f, N("user.d"), Pattern(65536, 1), XattrSetFlags.None));
        Assert.Equal(Errno.ENODATA, t.Fs.GetXattr(f, N("user.d"), out _));
    }

    [Fact]
    public void DaxDirectoryPassesDaxToNewFilesAndAlignsLargeAllocations()
    {
        using var t = new EngineFixture(size: 64L << 20, rootFlags: InodeFlags.Dax);
        ulong f = t.CreateFile(Root, "f");
        t.Fs.GetAttr(f, out var a);
        Assert.True(a.Flags.HasFlag(InodeFlags.Dax));
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.Default, 0, 2 << 20, Credentials.Root));
        var e = t.Fs.InodeAt(f)!.Extents.All[0];
        Assert.Equal(0, e.PhysBlock % FormatConstants.HugePageBlocks);
    }
}

public class FragmentedRangeTests
{
    [Theory]
    [InlineData(FallocateMode.PunchHole | FallocateMode.KeepSize)]
    [InlineData(FallocateMode.ZeroRange)]
    [InlineData(FallocateMode.Default)]
    public void FallocateOverThousandsOfExtentsSucceedsInBoundedTransactions(FallocateMode mode)
    {
        using var t = new EngineFixture(size: 128L << 20);
        ulong f = t.CreateFile(EngineFixture.Root, "frag");
        var model = new byte[3000 * 8192];
        for (int i = 0; i < 3000; i++)
        {
            var p = EngineFixture.Pattern(100, i);
            t.Write(f, i * 8192L, p);
            p.CopyTo(model, i * 8192);
        }
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, mode, 10, model.Length - 20, Credentials.Root));
        if (mode != FallocateMode.Default) Array.Clear(model, 10, model.Length - 20);
        Assert.Equal(model.AsSpan(0, model.Length - 8192 + 100).ToArray(), t.ReadAll(f).AsSpan(0, model.Length - 8192 + 100).ToArray());
        t.Remount();
        Assert.Equal(model.AsSpan(0, 100).ToArray(), t.ReadAll(f).AsSpan(0, 100).ToArray());
    }
}
