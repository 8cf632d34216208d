using PmemFs.Check;
using PmemFs.CrashSim;
using PmemFs.Engine.Leases;
using PmemFs.Engine.Mapping;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;
using MapState = PmemFs.Engine.Mapping.ExtentState;

namespace PmemFs.Engine.Tests;

/// <summary>
/// The extent map and prepare-write without a mount (docs/leases.md, "prepare-write and the
/// extent map", cites these by name). Every test that changes the image ends with fsck.
/// </summary>
public sealed class MappingTests : IDisposable
{
    private const int Bs = FormatConstants.BlockSize;
    private const int Kb = 1024;
    private const long Mib = 1L << 20;
    private const ulong H1 = 201, H2 = 202;
    private const int P1 = 5001, P2 = 5002;

    private readonly RecordingLeaseHost _host = new();
    private EngineFixture _f;

    public MappingTests()
    {
        _f = new EngineFixture(rootFlags: InodeFlags.Dax);
        Fs.Leases.Host = _host;
    }

    public void Dispose() => _f.Dispose();

    private FileSystem Fs => _f.Fs;

    // ---- helpers ----

    /// <summary>A DAX file "name" of <paramref name="size"/> bytes written with a pattern, open through H1.</summary>
    private ulong File(string name, int size = 0)
    {
        ulong ino = _f.CreateFile(Root, name);
        if (size > 0) _f.Write(ino, 0, Pattern(size, 7));
        Assert.Equal(Errno.Ok, Fs.Open(ino, write: true, append: false));
        return ino;
    }

    private long Lease(ulong ino, LeaseMode mode = LeaseMode.Write, FileRange? range = null, ulong handle = H1, int pid = P1)
    {
        Assert.Equal(Errno.Ok, Fs.Leases.Acquire(ino, handle, pid, mode, range ?? FileRange.WholeFile, out long id));
        return id;
    }

    private Errno Prepare(ulong ino, long offset, long length, PrepareWriteFlags flags = PrepareWriteFlags.None, ulong handle = H1) =>
        Fs.PrepareWrite(ino, handle, offset, length, flags, Credentials.Root);

    private List<MappedExtent> Map(ulong ino, long offset = 0, long length = long.MaxValue)
    {
        var all = new List<MappedExtent>();
        var buf = new MappedExtent[64];
        long next = offset;
        while (next >= 0)
        {
            long len = length == long.MaxValue ? long.MaxValue - next : offset + length - next;
            Assert.Equal(Errno.Ok, Fs.GetExtentMap(ino, next, len, buf, out int n, out next));
            all.AddRange(buf.AsSpan(0, n).ToArray());
        }
        return all;
    }

    private static string Show(IEnumerable<MappedExtent> map) => string.Join(" ", map.Select(e => $"{e.State}[{e.FileOffset / Kb}K,+{e.Length / Kb}K)"));

    private long Size(ulong ino)
    {
        Assert.Equal(Errno.Ok, Fs.GetAttr(ino, out var a));
        return a.Size;
    }

    private byte[] Read(ulong ino, long offset, int length)
    {
        var buf = new byte[length];
        Assert.Equal(Errno.Ok, Fs.Read(ino, offset, buf, out int n));
        return buf[..n];
    }

    /// <summary>The media's bytes behind file bytes [offset, +length) (which must be mapped).</summary>
    private byte[] MediaBytes(ulong ino, long offset, int length)
    {
        var e = Map(ino, offset, length).Single(x => x.FileOffset <= offset && offset + length <= x.FileEnd);
        return _f.Media.Read(e.PhysicalOffset + (offset - e.FileOffset), length).ToArray();
    }

    /// <summary>What a direct-access holder does: store at the region offsets the map gives, then flush and fence.</summary>
    private static void StoreDirect(IMedia media, IReadOnlyList<MappedExtent> map, long offset, byte[] data)
    {
        foreach (var e in map)
        {
            long s = Math.Max(e.FileOffset, offset), t = Math.Min(e.FileEnd, offset + data.Length);
            if (s >= t) continue;
            Assert.Equal(MapState.Written, e.State);
            long at = e.PhysicalOffset + (s - e.FileOffset);
            media.Write(at, data.AsSpan((int)(s - offset), (int)(t - s)));
            media.Flush(at, t - s);
        }
        media.Drain();
    }

    private void AssertFsckClean() => AssertFsckClean(_f.Media);

    private static void AssertFsckClean(IMedia media)
    {
        var report = Fsck.Check(media, new FsckOptions());
        Assert.True(report.IsClean, string.Join("\n", report.Problems));
    }

    /// <summary>Frees a file whose blocks held <paramref name="bytes"/> of a pattern, so the next allocations find stale data.</summary>
    private void LeaveStaleDataInFreeSpace(int bytes)
    {
        ulong old = _f.CreateFile(Root, "old");
        _f.Write(old, 0, Enumerable.Repeat((byte)0xEE, bytes).ToArray());
        Assert.Equal(Errno.Ok, Fs.Unlink(Root, N("old")));
    }

    // ---- the extent map ----

    [Fact]
    public void TheMapShowsWrittenHoleAndUnwrittenPiecesInOrderUpToEofsBlock()
    {
        ulong f = File("f", 8 * Kb);
        Assert.Equal(Errno.Ok, Fs.Fallocate(f, FallocateMode.Default, 16 * Kb, 8 * Kb, Credentials.Root));
        _f.Write(f, 24 * Kb, Pattern(100, 3));
        Assert.Equal(Errno.Ok, Fs.Fallocate(f, FallocateMode.KeepSize, 64 * Kb, 64 * Kb, Credentials.Root)); // past EOF: not shown

        var map = Map(f);
        Assert.Equal("Written[0K,+8K) Hole[8K,+8K) Unwritten[16K,+8K) Written[24K,+4K)", Show(map));
        Assert.Equal(-1, map[1].PhysicalOffset);
        Assert.All(map.Where(e => e.State != MapState.Hole), e => Assert.Equal(0, e.PhysicalOffset % Bs));
        // The physical offsets are where the data is.
        Assert.Equal(Pattern(8 * Kb, 7), _f.Media.Read(map[0].PhysicalOffset, 8 * Kb).ToArray());
        Assert.Equal(Pattern(100, 3), _f.Media.Read(map[3].PhysicalOffset, 100).ToArray());
    }

    [Fact]
    public void AnUnalignedRangeWidensToWholeBlocksAndARangePastEofsBlockIsEmpty()
    {
        ulong f = File("f", 5000); // two blocks, the second partly
        Assert.Equal("Written[4K,+4K)", Show(Map(f, 5000, 10)));
        Assert.Equal("Written[0K,+8K)", Show(Map(f, 100, 1 * Mib)));
        var buf = new MappedExtent[4];
        Assert.Equal(Errno.Ok, Fs.GetExtentMap(f, 8 * Kb, Kb, buf, out int n, out long next));
        Assert.Equal((0, -1L), (n, next));
        Assert.Equal(Errno.Ok, Fs.GetExtentMap(File("empty"), 0, long.MaxValue, buf, out n, out next));
        Assert.Equal((0, -1L), (n, next));
        // A file that is all hole is one hole piece.
        ulong h = File("h");
        Assert.Equal(Errno.Ok, Fs.SetAttr(h, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 1 * Mib }, Credentials.Root, out _));
        Assert.Equal("Hole[0K,+1024K)", Show(Map(h)));
    }

    [Fact]
    public void AMapThatDoesNotFitGivesTheOffsetToContinueFromAndMinusOneAtTheEnd()
    {
        ulong f = File("f");
        for (int i = 0; i < 5; i++) _f.Write(f, 2L * i * Bs, Pattern(Bs, i)); // written, hole, written, ... 9 pieces
        var two = new MappedExtent[2];
        Assert.Equal(Errno.Ok, Fs.GetExtentMap(f, 0, long.MaxValue, two, out int n, out long next));
        Assert.Equal(2, n);
        Assert.Equal(2L * Bs, next);
        Assert.Equal((MapState.Written, MapState.Hole), (two[0].State, two[1].State));
        var pieces = new List<MappedExtent>(two);
        while (next >= 0)
        {
            Assert.Equal(Errno.Ok, Fs.GetExtentMap(f, next, long.MaxValue - next, two, out n, out next));
            pieces.AddRange(two.AsSpan(0, n).ToArray());
        }
        Assert.Equal(9, pieces.Count);
        for (int i = 1; i < pieces.Count; i++) Assert.Equal(pieces[i - 1].FileEnd, pieces[i].FileOffset); // no gap, no overlap
        Assert.Equal(Show(Map(f)), Show(pieces));
        // Exactly full at the end: no continuation.
        var nine = new MappedExtent[9];
        Assert.Equal(Errno.Ok, Fs.GetExtentMap(f, 0, long.MaxValue, nine, out n, out next));
        Assert.Equal((9, -1L), (n, next));
    }

    [Fact]
    public void TheMapRefusesBadRangesDirectoriesUnknownInodesAndAnEmptySpan()
    {
        ulong f = File("f", 100);
        var buf = new MappedExtent[4];
        Assert.Equal(Errno.EINVAL, Fs.GetExtentMap(f, -1, 10, buf, out _, out _));
        Assert.Equal(Errno.EINVAL, Fs.GetExtentMap(f, 0, 0, buf, out _, out _));
        Assert.Equal(Errno.EOVERFLOW, Fs.GetExtentMap(f, 10, long.MaxValue, buf, out _, out _));
        Assert.Equal(Errno.EISDIR, Fs.GetExtentMap(Root, 0, 10, buf, out _, out _));
        Assert.Equal(Errno.ESTALE, Fs.GetExtentMap(Root + 40, 0, 10, buf, out _, out _));
        Assert.Equal(Errno.EINVAL, Fs.GetExtentMap(f, 0, 10, Span<MappedExtent>.Empty, out _, out _));
    }

    // ---- prepare-write ----

    [Fact]
    public void PrepareWriteOfAHoleAllocatesZeroedWrittenBlocksInOneTransaction()
    {
        LeaveStaleDataInFreeSpace(256 * Kb);
        ulong f = File("f", 8 * Kb);
        Assert.Equal(Errno.Ok, Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 64 * Kb }, Credentials.Root, out _));
        Lease(f);
        long before = Fs.CommittedTransactions;

        Assert.Equal(Errno.Ok, Prepare(f, 16 * Kb, 16 * Kb));

        Assert.Equal(before + 1, Fs.CommittedTransactions);
        Assert.Equal("Written[0K,+8K) Hole[8K,+8K) Written[16K,+16K) Hole[32K,+32K)", Show(Map(f)));
        Assert.Equal(new byte[16 * Kb], MediaBytes(f, 16 * Kb, 16 * Kb)); // zeros on the media, not the stale 0xEE
        Assert.Equal(new byte[16 * Kb], Read(f, 16 * Kb, 16 * Kb));
        Assert.Equal(64 * Kb, Size(f));
        Assert.Equal(Pattern(8 * Kb, 7), Read(f, 0, 8 * Kb));
        AssertFsckClean();
    }

    [Fact]
    public void PrepareWriteOfUnwrittenBlocksZeroesAndConvertsOnlyTheAskedBlocks()
    {
        ulong f = File("f");
        Assert.Equal(Errno.Ok, Fs.Fallocate(f, FallocateMode.Default, 0, 64 * Kb, Credentials.Root));
        var pre = Map(f).Single();
        // Unwritten blocks may hold anything: make them hold something.
        _f.Media.Write(pre.PhysicalOffset, Enumerable.Repeat((byte)0xAB, 64 * Kb).ToArray());
        Lease(f);

        Assert.Equal(Errno.Ok, Prepare(f, 8 * Kb + 100, 8 * Kb - 200)); // inside blocks 2..3

        Assert.Equal("Unwritten[0K,+8K) Written[8K,+8K) Unwritten[16K,+48K)", Show(Map(f)));
        Assert.All(Map(f), e => Assert.Equal(pre.PhysicalOffset + e.FileOffset, e.PhysicalOffset)); // nothing moved
        Assert.Equal(new byte[8 * Kb], MediaBytes(f, 8 * Kb, 8 * Kb));
        // The rest was not touched: still unwritten, still holding what it held, still reading zeros.
        Assert.Equal(0xAB, _f.Media.Read(pre.PhysicalOffset + 16 * Kb, 1)[0]);
        Assert.Equal(new byte[64 * Kb], Read(f, 0, 64 * Kb));
        AssertFsckClean();
    }

    [Fact]
    public void PrepareWriteOfAMixedRangeKeepsWrittenDataAndMakesEveryBlockWritten()
    {
        LeaveStaleDataInFreeSpace(256 * Kb);
        ulong f = File("f", 8 * Kb);
        Assert.Equal(Errno.Ok, Fs.Fallocate(f, FallocateMode.Default, 16 * Kb, 8 * Kb, Credentials.Root));
        _f.Write(f, 32 * Kb, Pattern(Bs, 9));
        var written0 = Map(f)[0];
        Lease(f);

        Assert.Equal(Errno.Ok, Prepare(f, 4 * Kb, 32 * Kb)); // written, hole, unwritten, hole, written edge

        var map = Map(f);
        Assert.All(map, e => Assert.Equal(MapState.Written, e.State));
        Assert.Equal(36 * Kb, map.Sum(e => e.Length));
        Assert.Equal(written0.PhysicalOffset, map[0].PhysicalOffset);
        var want = new byte[36 * Kb];
        Pattern(8 * Kb, 7).CopyTo(want, 0);
        Pattern(Bs, 9).CopyTo(want, 32 * Kb);
        Assert.Equal(want, Read(f, 0, 36 * Kb));
        AssertFsckClean();
    }

    [Fact]
    public void WithExtendSizeTheFileGrowsToTheRangesEndAndTheOldTailReadsAsZeros()
    {
        ulong f = File("f", 5000);
        // Truncate down inside a block: the bytes past the new EOF keep their old data in place.
        Assert.Equal(Errno.Ok, Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 4500 }, Credentials.Root, out _));
        Lease(f);
        long before = Fs.CommittedTransactions;

        Assert.Equal(Errno.Ok, Prepare(f, 12 * Kb, 4 * Kb + 10, PrepareWriteFlags.ExtendSize));

        Assert.Equal(before + 1, Fs.CommittedTransactions);
        Assert.Equal(16 * Kb + 10, Size(f));
        Assert.Equal("Written[0K,+8K) Hole[8K,+4K) Written[12K,+8K)", Show(Map(f)));
        var data = Read(f, 0, 16 * Kb + 10);
        Assert.Equal(Pattern(5000, 7)[..4500], data[..4500]);
        Assert.Equal(new byte[16 * Kb + 10 - 4500], data[4500..]);
        AssertFsckClean();
    }

    [Fact]
    public void WithoutExtendSizeARangePastEofsBlockIsRefusedWithEnxioAndOneInsideItIsPrepared()
    {
        ulong f = File("f", 5000);
        Assert.Equal(Errno.Ok, Fs.Fallocate(f, FallocateMode.KeepSize, 8 * Kb, 8 * Kb, Credentials.Root));
        Lease(f);
        string mapBefore = Show(Map(f, 0, 1 * Mib));
        long before = Fs.CommittedTransactions;

        Assert.Equal(Errno.ENXIO, Prepare(f, 4 * Kb, 4 * Kb + 1));
        Assert.Equal(Errno.ENXIO, Prepare(f, 8 * Kb, 4 * Kb));
        Assert.Equal(before, Fs.CommittedTransactions);
        Assert.Equal(mapBefore, Show(Map(f, 0, 1 * Mib)));
        Assert.Equal(5000, Size(f));

        // The rest of EOF's block is the file's block: already written, nothing to do.
        Assert.Equal(Errno.Ok, Prepare(f, 4 * Kb, 4 * Kb));
        Assert.Equal(before, Fs.CommittedTransactions);
        // ExtendSize over preallocation past EOF converts it and grows the file.
        Assert.Equal(Errno.Ok, Prepare(f, 8 * Kb, 4 * Kb, PrepareWriteFlags.ExtendSize));
        Assert.Equal(12 * Kb, Size(f));
        Assert.All(Map(f), e => Assert.Equal(MapState.Written, e.State));
        Assert.Equal(12 * Kb, Map(f).Sum(e => e.Length));
        AssertFsckClean();
    }

    [Fact]
    public void AWrittenRangeInsideEofCommitsNothing()
    {
        ulong f = File("f", 64 * Kb);
        Lease(f);
        long before = Fs.CommittedTransactions, head = Fs.Log.HeadOffset;
        Assert.Equal(Errno.Ok, Prepare(f, 0, 64 * Kb));
        Assert.Equal(Errno.Ok, Prepare(f, 10, 20, PrepareWriteFlags.ExtendSize)); // ends inside EOF: nothing to extend
        Assert.Equal(before, Fs.CommittedTransactions);
        Assert.Equal(head, Fs.Log.HeadOffset);
    }

    public enum Holding { NoLease, ReadLease, AnotherHandlesWriteLease, WriteLeaseOnPartOfTheRange, WriteLeaseOnAnotherFile }

    [Theory]
    [InlineData(Holding.NoLease)]
    [InlineData(Holding.ReadLease)]
    [InlineData(Holding.AnotherHandlesWriteLease)]
    [InlineData(Holding.WriteLeaseOnPartOfTheRange)]
    [InlineData(Holding.WriteLeaseOnAnotherFile)]
    public void WithoutAWriteLeaseOfTheHandleOverTheWholeRangePrepareWriteFailsWithEaccesAndChangesNothing(Holding holding)
    {
        ulong f = File("f", 8 * Kb);
        ulong g = File("g");
        switch (holding)
        {
            case Holding.ReadLease: Lease(f, LeaseMode.Read); break;
            case Holding.AnotherHandlesWriteLease: Lease(f, handle: H2, pid: P2); break;
            case Holding.WriteLeaseOnPartOfTheRange: Lease(f, range: new FileRange(0, 12 * Kb)); break;
            case Holding.WriteLeaseOnAnotherFile: Lease(g); break;
        }
        string map = Show(Map(f, 0, 1 * Mib));
        long before = Fs.CommittedTransactions;

        Assert.Equal(Errno.EACCES, Prepare(f, 4 * Kb, 12 * Kb, PrepareWriteFlags.ExtendSize));

        Assert.Equal(before, Fs.CommittedTransactions);
        Assert.Equal(map, Show(Map(f, 0, 1 * Mib)));
        Assert.Equal(8 * Kb, Size(f));
        Assert.Empty(_host.Recalled);
        Assert.Empty(_host.Revoked);
    }

    [Fact]
    public void AdjacentWriteLeasesOfTheHandleTogetherCoverARange()
    {
        ulong f = File("f");
        Lease(f, range: new FileRange(0, 8 * Kb));
        Lease(f, range: new FileRange(8 * Kb, 8 * Kb));
        Assert.Equal(Errno.Ok, Prepare(f, 0, 16 * Kb, PrepareWriteFlags.ExtendSize));
        Assert.Equal("Written[0K,+16K)", Show(Map(f)));
        Assert.Equal(Errno.EACCES, Prepare(f, 8 * Kb, 8 * Kb + 1, PrepareWriteFlags.ExtendSize));
    }

    [Fact]
    public void PrepareWriteThroughALeaseBeingRecalledFailsWithEbusy()
    {
        ulong f = File("f", 64 * Kb);
        Assert.Equal(Errno.Ok, Fs.Open(f, write: true, append: false)); // H2, the truncating handle
        Lease(f);
        Assert.Equal(Errno.RetryAfterRecall, Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 4 * Kb }, Credentials.Root, out _, handle: H2));
        long before = Fs.CommittedTransactions;
        Assert.Equal(Errno.EBUSY, Prepare(f, 64 * Kb, 4 * Kb, PrepareWriteFlags.ExtendSize));
        Assert.Equal(before, Fs.CommittedTransactions);
        Assert.Equal(64 * Kb, Size(f));
    }

    [Fact]
    public void PrepareWriteRecallsNoLeaseAndLeavesOtherHoldersLeasesAndPinsAlone()
    {
        ulong f = File("f", 8 * Kb);
        Assert.Equal(Errno.Ok, Fs.Open(f, write: true, append: false));
        long mine = Lease(f, range: new FileRange(0, 1 * Mib));
        Assert.Equal(Errno.Ok, Fs.Leases.Pin(H1, mine, new FileRange(0, 4 * Kb), out _));
        long theirs = Lease(f, LeaseMode.Read, new FileRange(1 * Mib, 1 * Mib), H2, P2);
        Assert.Equal(Errno.Ok, Fs.Leases.Pin(H2, theirs, new FileRange(1 * Mib, 4 * Kb), out _));

        Assert.Equal(Errno.Ok, Prepare(f, 0, 1 * Mib, PrepareWriteFlags.ExtendSize)); // over its own pin, up to theirs

        Assert.Empty(_host.Recalled);
        Assert.Empty(_host.Revoked);
        var leases = Fs.Leases.ListOf(f);
        Assert.Equal(2, leases.Count);
        Assert.All(leases, l => Assert.Equal(LeaseState.Active, l.State));
        Assert.All(leases, l => Assert.Single(l.Pins));
        Assert.Equal(1 * Mib, Size(f));
        AssertFsckClean();
    }

    [Fact]
    public void OnADaxImmutableFileAWrittenRangeIsReadyWithNoTransactionAndAnythingElseIsEperm()
    {
        ulong f = File("f", 64 * Kb + 100);
        Assert.Equal(Errno.Ok, Fs.SetFlags(f, InodeFlags.DaxImmutable, 0, Credentials.Root, out _));
        Lease(f);
        var map = Show(Map(f));
        long before = Fs.CommittedTransactions, head = Fs.Log.HeadOffset;

        Assert.Equal(Errno.Ok, Prepare(f, 0, 64 * Kb + 100));
        Assert.Equal(Errno.Ok, Prepare(f, 4 * Kb, 60 * Kb, PrepareWriteFlags.ExtendSize)); // ends inside EOF: nothing to extend
        Assert.Equal(Errno.Ok, Prepare(f, 64 * Kb, 4 * Kb));                                // the rest of EOF's block, written
        Assert.Equal(before, Fs.CommittedTransactions); // no transaction at all: not even an empty one
        Assert.Equal(head, Fs.Log.HeadOffset);

        Assert.Equal(Errno.EPERM, Prepare(f, 64 * Kb, 8 * Kb, PrepareWriteFlags.ExtendSize)); // would allocate and grow
        Assert.Equal(Errno.ENXIO, Prepare(f, 64 * Kb, 8 * Kb)); // past EOF's block, as on any file
        Assert.Equal(before, Fs.CommittedTransactions);
        Assert.Equal(map, Show(Map(f)));
        AssertFsckClean();
    }

    [Theory]
    [InlineData(InodeFlags.Immutable)]
    [InlineData(InodeFlags.Append)]
    public void ImmutableAndAppendOnlyFilesRefusePrepareWriteWithEperm(InodeFlags flag)
    {
        ulong f = File("f", 8 * Kb);
        Lease(f);
        Assert.Equal(Errno.Ok, Fs.SetFlags(f, flag, 0, Credentials.Root, out _));
        long before = Fs.CommittedTransactions;
        Assert.Equal(Errno.EPERM, Prepare(f, 0, 4 * Kb));                                    // written, inside EOF
        Assert.Equal(Errno.EPERM, Prepare(f, 8 * Kb, 4 * Kb, PrepareWriteFlags.ExtendSize)); // at EOF: an append, still refused
        Assert.Equal(before, Fs.CommittedTransactions);
    }

    [Fact]
    public void WhenSpaceRunsOutPrepareWriteFailsWithEnospcAndChangesNothing()
    {
        _f.Dispose();
        _f = new EngineFixture(size: 16L << 20, rootFlags: InodeFlags.Dax);
        ulong f = File("f", 8 * Kb);
        Assert.Equal(Errno.Ok, Fs.Fallocate(f, FallocateMode.KeepSize, 32 * Kb, 16 * Kb, Credentials.Root));
        ulong filler = _f.CreateFile(Root, "filler");
        long free = Fs.StatFs().FreeBlocks;
        Assert.Equal(Errno.Ok, Fs.Fallocate(filler, FallocateMode.Default, 0, (free - 10) * Bs, Credentials.Root));
        Lease(f);
        free = Fs.StatFs().FreeBlocks;
        Assert.Equal(10, free);
        string map = Show(Map(f, 0, 1 * Mib));
        long before = Fs.CommittedTransactions;

        // Would convert the unwritten blocks and needs 26 new ones for the holes: 10 are free.
        Assert.Equal(Errno.ENOSPC, Prepare(f, 0, 128 * Kb, PrepareWriteFlags.ExtendSize));

        Assert.Equal(before, Fs.CommittedTransactions);
        Assert.Equal(free, Fs.StatFs().FreeBlocks);
        Assert.Equal(map, Show(Map(f, 0, 1 * Mib)));
        Assert.Equal(8 * Kb, Size(f));
        AssertFsckClean();
        _f.Remount();
        Assert.Equal(free, Fs.StatFs().FreeBlocks);
        Assert.Equal(map, Show(Map(f, 0, 1 * Mib)));
    }

    [Fact]
    public void OnAReadOnlyMountPrepareWriteFailsWithErofs()
    {
        ulong f = File("f", 8 * Kb);
        _f.Remount(new FileSystemOptions { ReadOnly = true });
        Assert.Equal(Errno.Ok, Fs.Open(f, write: false, append: false));
        Lease(f);
        Assert.Equal(Errno.EROFS, Prepare(f, 0, 4 * Kb));       // even written: the holder's stores would change the image
        Assert.Equal(Errno.EROFS, Prepare(f, 8 * Kb, 4 * Kb, PrepareWriteFlags.ExtendSize));
        Assert.Equal("Written[0K,+8K)", Show(Map(f)));
    }

    [Fact]
    public void BadArgumentsAndNonDaxFilesAreRefusedBeforeTheLeaseIsLookedAt()
    {
        ulong f = File("f", 8 * Kb);
        Lease(f);
        Assert.Equal(Errno.EINVAL, Prepare(f, -1, 10));
        Assert.Equal(Errno.EINVAL, Prepare(f, 0, 0));
        Assert.Equal(Errno.EOVERFLOW, Prepare(f, 10, long.MaxValue));
        Assert.Equal(Errno.EINVAL, Prepare(f, 0, 10, (PrepareWriteFlags)2));
        Assert.Equal(Errno.EBADF, Prepare(f, 0, 10, handle: 0));
        Assert.Equal(Errno.EFBIG, Prepare(f, FormatConstants.MaxFileSize, 1, PrepareWriteFlags.ExtendSize));
        Assert.Equal(Errno.EISDIR, Prepare(Root, 0, 10));
        Assert.Equal(Errno.ESTALE, Prepare(Root + 40, 0, 10));
        Assert.Equal(Errno.Ok, Fs.SetFlags(Root, 0, InodeFlags.Dax, Credentials.Root, out _));
        ulong plain = _f.CreateFile(Root, "plain");
        Assert.Equal(Errno.EOPNOTSUPP, Prepare(plain, 0, 10, PrepareWriteFlags.ExtendSize));
    }

    [Fact]
    public void PrepareWriteByAnyoneButRootClearsSetUserIdAsAWriteDoes()
    {
        ulong f = File("f", 8 * Kb);
        Assert.Equal(Errno.Ok, Fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0xDED }, Credentials.Root, out _)); // 06755
        Lease(f);
        Assert.Equal(Errno.Ok, Prepare(f, 0, 4 * Kb)); // root: kept, nothing to commit
        Assert.Equal(Errno.Ok, Fs.GetAttr(f, out var a));
        Assert.Equal(0xDEDu, a.Mode & 0xFFF);
        Assert.Equal(Errno.Ok, Fs.PrepareWrite(f, H1, 0, 4 * Kb, PrepareWriteFlags.None, new Credentials(1000, 1000)));
        Assert.Equal(Errno.Ok, Fs.GetAttr(f, out a));
        Assert.Equal(0x1EDu, a.Mode & 0xFFF);
    }

    [Fact]
    public void NewBlocksOfADaxFileAre2MibAlignedWhenSpaceAllows()
    {
        // One written block first, so the next free block is not 2 MiB-aligned by chance.
        _f.Write(_f.CreateFile(Root, "small"), 0, Pattern(100, 1));
        ulong f = File("f");
        Lease(f);
        Assert.Equal(Errno.Ok, Prepare(f, 0, 4 * Mib, PrepareWriteFlags.ExtendSize));
        var map = Map(f);
        Assert.All(map, e => Assert.Equal(MapState.Written, e.State));
        Assert.Equal(0, map[0].PhysicalOffset % (2 * Mib));
        Assert.All(map, e => Assert.Equal(map[0].PhysicalOffset + e.FileOffset, e.PhysicalOffset)); // one contiguous run

        ulong g = File("g");
        Lease(g, handle: H2, pid: P2);
        Assert.Equal(Errno.Ok, Prepare(g, 2 * Mib, 2 * Mib, PrepareWriteFlags.ExtendSize, handle: H2));
        var second = Map(g).Single(e => e.State == MapState.Written);
        Assert.Equal(0, second.PhysicalOffset % (2 * Mib));
        AssertFsckClean();
    }

    [Fact]
    public void BytesStoredThroughTheMediaAtTheReturnedOffsetsReadBackThroughRead()
    {
        ulong f = File("f", 5000);
        Assert.Equal(Errno.Ok, Fs.Fallocate(f, FallocateMode.KeepSize, 16 * Kb, 16 * Kb, Credentials.Root));
        Lease(f);
        Assert.Equal(Errno.Ok, Prepare(f, 100, 40 * Kb, PrepareWriteFlags.ExtendSize));
        var data = Pattern(40 * Kb, 11);
        StoreDirect(_f.Media, Map(f, 100, 40 * Kb), 100, data);

        var want = new byte[40 * Kb + 100];
        Pattern(100, 7).CopyTo(want, 0);
        data.CopyTo(want, 100);
        Assert.Equal(want, Read(f, 0, want.Length));
        _f.Remount();
        Assert.Equal(want, Read(f, 0, want.Length));
        AssertFsckClean();
    }

    /// <summary>
    /// The contract under power loss, on the persistence model (flushes do nothing on the memory
    /// media): the image holding only what was durable when PrepareWrite returned already has
    /// the new size and zeroed written blocks; the one holding only what was durable after the
    /// holder's stores and its flush has the stores. No fsync anywhere.
    /// </summary>
    [Fact]
    public void AfterPrepareWriteReturnsItsMetadataAndThenTheHoldersFlushedStoresAreDurable()
    {
        using var recording = new RecordingMedia(new MemoryMedia(16L << 20));
        Mkfs.Format(recording, new MkfsOptions { RootFlags = InodeFlags.Dax });
        int prepared, stored;
        var data = Pattern(20 * Kb, 5);
        ulong ino;
        using (var fs = FileSystem.Mount(recording))
        {
            // Stale bytes in free space, and a file with a hole and unwritten blocks.
            Assert.Equal(Errno.Ok, fs.Create(Root, N("old"), RegularMode, Credentials.Root, out var old));
            Assert.Equal(Errno.Ok, fs.Write(old.Ino, 0, Enumerable.Repeat((byte)0xEE, 64 * Kb).ToArray(), Credentials.Root, out _));
            Assert.Equal(Errno.Ok, fs.Unlink(Root, N("old")));
            Assert.Equal(Errno.Ok, fs.Create(Root, N("f"), RegularMode, Credentials.Root, out var a));
            ino = a.Ino;
            Assert.Equal(Errno.Ok, fs.Write(ino, 0, Pattern(Bs, 1), Credentials.Root, out _));
            Assert.Equal(Errno.Ok, fs.Fallocate(ino, FallocateMode.KeepSize, 8 * Kb, 8 * Kb, Credentials.Root));
            Assert.Equal(Errno.Ok, fs.Open(ino, write: true, append: false));
            Assert.Equal(Errno.Ok, fs.Leases.Acquire(ino, H1, P1, LeaseMode.Write, FileRange.WholeFile, out _));

            Assert.Equal(Errno.Ok, fs.PrepareWrite(ino, H1, 4 * Kb, 20 * Kb, PrepareWriteFlags.ExtendSize, Credentials.Root));
            prepared = recording.Count;
            var buf = new MappedExtent[8];
            Assert.Equal(Errno.Ok, fs.GetExtentMap(ino, 4 * Kb, 20 * Kb, buf, out int n, out _));
            StoreDirect(recording, buf[..n], 4 * Kb, data);
            stored = recording.Count;
        }

        var rec = Recording.From(recording);
        var zeros = new byte[20 * Kb];
        foreach (var (at, want) in new[] { (prepared, zeros), (stored, data) })
        {
            var sim = new PmemSimulator(rec);
            sim.AdvanceTo(at);
            using var image = MemoryMedia.FromBytes(sim.Durable); // only what was durable: every line in doubt lost
            AssertFsckClean(image);
            using var fs = FileSystem.Mount(image);
            Assert.Equal(Errno.Ok, fs.GetAttr(ino, out var a));
            Assert.Equal(24 * Kb, a.Size);
            var got = new byte[24 * Kb];
            Assert.Equal(Errno.Ok, fs.Read(ino, 0, got, out _));
            Assert.Equal(Pattern(Bs, 1), got[..Bs]);
            Assert.Equal(want, got[Bs..]);
        }
    }
}
