using PmemFs.Engine.Leases;
using PmemFs.Format;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Layout leases without a mount: conflicts, recall, revocation at the break time (on a clock
/// moved by hand), ETXTBSY on pins, the ends of a lease, bad input. docs/leases.md cites these
/// tests by name, one per row of its semantics table.
/// </summary>
public sealed class LeaseTests : IDisposable
{
    private static readonly TimeSpan Break = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(1);
    private const int Kb = 1024;
    private const ulong H1 = 101, H2 = 102, H3 = 103, H4 = 104;
    private const int P1 = 4001, P2 = 4002, P3 = 4003;

    private readonly ManualClock _clock = new();
    private readonly RecordingLeaseHost _host = new();
    private readonly EngineFixture _f;

    public LeaseTests()
    {
        // The root is DAX, so every new file is.
        _f = new EngineFixture(rootFlags: InodeFlags.Dax, options: new FileSystemOptions { Time = _clock, LeaseBreakTime = Break });
        Fs.Leases.Host = _host;
    }

    public void Dispose() => _f.Dispose();

    private FileSystem Fs => _f.Fs;
    private LeaseTable Leases => Fs.Leases;

    /// <summary>The layout changes of docs/leases.md's table.</summary>
    public enum Change { TruncateShrink, TruncateGrow, PunchHole, ZeroRange, Preallocate, UnlinkLastName, RenameOverLastName, ClearDax }

    public static TheoryData<Change> AllChanges => new(Enum.GetValues<Change>());

    /// <summary>The changes that come through an open handle (a name has none).</summary>
    public static TheoryData<Change> HandleChanges => new(Change.TruncateShrink, Change.TruncateGrow, Change.PunchHole, Change.ZeroRange, Change.Preallocate, Change.ClearDax);

    /// <summary>The changes that touch only part of the file.</summary>
    public static TheoryData<Change> RangedChanges => new(Change.TruncateShrink, Change.TruncateGrow, Change.PunchHole, Change.ZeroRange, Change.Preallocate);

    /// <summary>"f": a 64 KiB DAX file, open through H1 and H2 (as a holder's and a changer's opens); "g": a small file to rename over it.</summary>
    private ulong Setup()
    {
        ulong ino = _f.CreateFile(Root, "f");
        _f.Write(ino, 0, Pattern(64 * Kb, 1));
        _f.Write(_f.CreateFile(Root, "g"), 0, Pattern(100, 2));
        Assert.Equal(Errno.Ok, Fs.Open(ino, write: true, append: false));
        Assert.Equal(Errno.Ok, Fs.Open(ino, write: true, append: false));
        return ino;
    }

    private Errno Do(Change c, ulong ino, ulong handle) => c switch
    {
        Change.TruncateShrink => Truncate(ino, 16 * Kb, handle),
        Change.TruncateGrow => Truncate(ino, 128 * Kb, handle),
        Change.PunchHole => Fs.Fallocate(ino, FallocateMode.PunchHole | FallocateMode.KeepSize, 16 * Kb, 8 * Kb, Credentials.Root, handle),
        Change.ZeroRange => Fs.Fallocate(ino, FallocateMode.ZeroRange, 16 * Kb, 8 * Kb, Credentials.Root, handle),
        Change.Preallocate => Fs.Fallocate(ino, FallocateMode.KeepSize, 64 * Kb, 32 * Kb, Credentials.Root, handle),
        Change.UnlinkLastName => Fs.Unlink(Root, N("f")),
        Change.RenameOverLastName => Fs.Rename(Root, N("g"), Root, N("f")),
        Change.ClearDax => Fs.SetFlags(ino, InodeFlags.None, InodeFlags.Dax, Credentials.Root, out _, handle: handle),
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    /// <summary>A range inside what <paramref name="c"/> touches.</summary>
    private static FileRange Inside(Change c) => c switch
    {
        Change.TruncateShrink => new(32 * Kb, 16 * Kb),
        Change.TruncateGrow or Change.Preallocate => new(64 * Kb, 8 * Kb),
        Change.PunchHole or Change.ZeroRange => new(20 * Kb, 4 * Kb),
        _ => new(0, 8 * Kb),
    };

    /// <summary>A range <paramref name="c"/> does not touch (ranged changes only).</summary>
    private static FileRange Outside => new(0, 8 * Kb);

    private Errno Truncate(ulong ino, long size, ulong handle = 0) =>
        Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = size }, Credentials.Root, out _, handle);

    private long Lease(ulong ino, ulong handle, int pid, LeaseMode mode, FileRange range)
    {
        Assert.Equal(Errno.Ok, Leases.Acquire(ino, handle, pid, mode, range, out long id));
        return id;
    }

    private long Pin(ulong handle, long lease, FileRange range)
    {
        Assert.Equal(Errno.Ok, Leases.Pin(handle, lease, range, out long id));
        return id;
    }

    /// <summary>Everything a layout change could alter: size, block map, names, flags.</summary>
    private string Snapshot(ulong ino)
    {
        var inode = Fs.InodeAt(ino);
        string map = inode is null || inode.Freed ? "freed"
            : string.Join(",", inode.Extents.All.Select(e => $"{e.FileBlock}+{e.Count}@{e.PhysBlock}:{e.State}"));
        var size = Fs.GetAttr(ino, out var a) == Errno.Ok ? a.Size : -1;
        var flags = Fs.GetFlags(ino, out var s) == Errno.Ok ? s.Flags.ToString() : "-";
        var names = string.Join(",", _f.List(Root).Select(n => $"{n}={_f.LookupIno(Root, n)}"));
        return $"size={size} map={map} flags={flags} names={names}";
    }

    private LeaseInfo Only(long id) => Assert.Single(Leases.List(), l => l.Id == id);

    private static void Completes(Task t) => Assert.True(t.Wait(TimeSpan.FromSeconds(10)), "the break should have ended");

    // ---- taking leases: conflicts ----

    [Fact]
    public void ReadLeasesOfTwoHandlesOnTheSameRangeCoexist()
    {
        ulong ino = Setup();
        Lease(ino, H1, P1, LeaseMode.Read, FileRange.WholeFile);
        Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(2, Leases.ListOf(ino).Count);
    }

    [Fact]
    public void AWriteLeaseOverlappingAnotherHandlesReadLeaseIsRefusedWithEagain()
    {
        ulong ino = Setup();
        Lease(ino, H1, P1, LeaseMode.Read, new FileRange(0, 8 * Kb));
        Assert.Equal(Errno.EAGAIN, Leases.Acquire(ino, H2, P2, LeaseMode.Write, new FileRange(4 * Kb, 8 * Kb), out long id));
        Assert.Equal(0, id);
        Assert.Single(Leases.List());
    }

    [Theory]
    [InlineData(LeaseMode.Read)]
    [InlineData(LeaseMode.Write)]
    public void AnyLeaseOverlappingAnotherHandlesWriteLeaseIsRefusedWithEagain(LeaseMode mode)
    {
        ulong ino = Setup();
        Lease(ino, H1, P1, LeaseMode.Write, new FileRange(0, 8 * Kb));
        Assert.Equal(Errno.EAGAIN, Leases.Acquire(ino, H2, P1, mode, new FileRange(8 * Kb - 1, 1), out _)); // same process, other handle: still another holder
        Assert.Single(Leases.List());
    }

    [Fact]
    public void WriteLeasesOnRangesThatDoNotOverlapCoexist()
    {
        ulong ino = Setup();
        Lease(ino, H1, P1, LeaseMode.Write, new FileRange(0, 8 * Kb));
        Lease(ino, H2, P2, LeaseMode.Write, new FileRange(8 * Kb, 8 * Kb)); // adjacent: [0,8K) and [8K,16K) share no byte
        Lease(ino, H3, P3, LeaseMode.Write, FileRange.From(16 * Kb));
        Assert.Equal(3, Leases.ListOf(ino).Count);
    }

    [Fact]
    public void OneHandleMayHoldOverlappingLeasesOfBothModes()
    {
        ulong ino = Setup();
        long a = Lease(ino, H1, P1, LeaseMode.Read, FileRange.WholeFile);
        long b = Lease(ino, H1, P1, LeaseMode.Write, new FileRange(0, 4 * Kb));
        Assert.NotEqual(a, b);
        Assert.Equal(2, Leases.ListOf(ino).Count);
    }

    [Fact]
    public void LeasesOnDifferentFilesNeverConflict()
    {
        ulong f = Setup();
        ulong g = _f.LookupIno(Root, "g");
        Lease(f, H1, P1, LeaseMode.Write, FileRange.WholeFile);
        Lease(g, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        Assert.Single(Leases.ListOf(f));
        Assert.Single(Leases.ListOf(g));
    }

    // ---- taking leases: what cannot be leased ----

    [Fact]
    public void ANonDaxFileRefusesLeasesWithEopnotsupp()
    {
        ulong ino = _f.CreateFile(Root, "plain");
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.None, InodeFlags.Dax, Credentials.Root, out var st));
        Assert.False(st.DaxNow);
        Assert.Equal(Errno.EOPNOTSUPP, Leases.Acquire(ino, H1, P1, LeaseMode.Read, FileRange.WholeFile, out _));
        Assert.Empty(Leases.List());
    }

    [Fact]
    public void AFileWhoseDaxChangeWaitsForItsLastCloseRefusesLeasesWithEopnotsupp()
    {
        ulong ino = Setup(); // open twice
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.None, InodeFlags.Dax, Credentials.Root, out var st));
        Assert.True(st.DaxNow && st.DaxPending);
        Assert.Equal(Errno.EOPNOTSUPP, Leases.Acquire(ino, H1, P1, LeaseMode.Read, FileRange.WholeFile, out _));
    }

    [Fact]
    public void OnADaxNeverMountEveryFileRefusesLeasesWithEopnotsupp()
    {
        ulong ino = _f.CreateFile(Root, "f");
        _f.Remount(new FileSystemOptions { Dax = DaxMode.Never, Time = _clock });
        Assert.Equal(Errno.EOPNOTSUPP, Fs.Leases.Acquire(ino, H1, P1, LeaseMode.Read, FileRange.WholeFile, out _));
    }

    [Fact]
    public void ADirectoryOrSymlinkRefusesLeasesWithEinval()
    {
        ulong dir = _f.MakeDir(Root, "d");
        Assert.Equal(Errno.Ok, Fs.Symlink(Root, N("l"), N("d"), Credentials.Root, out var link));
        Assert.Equal(Errno.EINVAL, Leases.Acquire(dir, H1, P1, LeaseMode.Read, FileRange.WholeFile, out _));
        Assert.Equal(Errno.EINVAL, Leases.Acquire(link.Ino, H1, P1, LeaseMode.Read, FileRange.WholeFile, out _));
        Assert.Empty(Leases.List());
    }

    [Fact]
    public void AnOpenFileWithNoNameLeftRefusesLeasesWithEnoent()
    {
        ulong ino = Setup();
        Fs.Retain(ino); // the kernel still knows it, so the unlink does not free it
        Assert.Equal(Errno.Ok, Fs.Unlink(Root, N("f")));
        Assert.Equal(Errno.ENOENT, Leases.Acquire(ino, H1, P1, LeaseMode.Read, FileRange.WholeFile, out _));
    }

    [Fact]
    public void BadRangesModesHandlesAndInodesAreRefusedWithClearErrnosAndChangeNothing()
    {
        ulong ino = Setup();
        Assert.Equal(Errno.EINVAL, Leases.Acquire(ino, H1, P1, LeaseMode.Read, new FileRange(-1, 10), out _));
        Assert.Equal(Errno.EINVAL, Leases.Acquire(ino, H1, P1, LeaseMode.Read, new FileRange(0, 0), out _));
        Assert.Equal(Errno.EINVAL, Leases.Acquire(ino, H1, P1, LeaseMode.Read, new FileRange(0, -5), out _));
        Assert.Equal(Errno.EOVERFLOW, Leases.Acquire(ino, H1, P1, LeaseMode.Read, new FileRange(long.MaxValue - 10, 11), out _));
        Assert.Equal(Errno.EOVERFLOW, Leases.Acquire(ino, H1, P1, LeaseMode.Read, new FileRange(1, long.MaxValue), out _));
        Assert.Equal(Errno.EINVAL, Leases.Acquire(ino, H1, P1, 0, FileRange.WholeFile, out _));
        Assert.Equal(Errno.EINVAL, Leases.Acquire(ino, H1, P1, (LeaseMode)3, FileRange.WholeFile, out _));
        Assert.Equal(Errno.EBADF, Leases.Acquire(ino, 0, P1, LeaseMode.Read, FileRange.WholeFile, out _));
        Assert.Equal(Errno.ESTALE, Leases.Acquire(ino + 1000, H1, P1, LeaseMode.Read, FileRange.WholeFile, out _));
        Assert.Empty(Leases.List());
        // The largest range that does not overflow is fine.
        Lease(ino, H1, P1, LeaseMode.Read, new FileRange(long.MaxValue - 10, 10));
    }

    [Fact]
    public void UnknownLeaseAndPinIdsAndBadPinRangesGiveClearErrnosAndChangeNothing()
    {
        ulong ino = Setup();
        long id = Lease(ino, H1, P1, LeaseMode.Write, new FileRange(0, 16 * Kb));
        long pin = Pin(H1, id, new FileRange(0, 4 * Kb));
        var before = Leases.List();

        Assert.Equal(Errno.ENOENT, Leases.Release(H1, id + 1000));
        Assert.Equal(Errno.ENOENT, Leases.Release(H2, id)); // another handle's lease is not its to give back
        Assert.Equal(Errno.ENOENT, Leases.Pin(H1, id + 1000, new FileRange(0, 1), out _));
        Assert.Equal(Errno.ENOENT, Leases.Pin(H2, id, new FileRange(0, 1), out _));
        Assert.Equal(Errno.ENOENT, Leases.Unpin(H1, pin + 1000));
        Assert.Equal(Errno.ENOENT, Leases.Unpin(H2, pin));
        Assert.Equal(Errno.EINVAL, Leases.Pin(H1, id, new FileRange(8 * Kb, 16 * Kb), out _)); // runs past the lease
        Assert.Equal(Errno.EINVAL, Leases.Pin(H1, id, new FileRange(-1, 2), out _));
        Assert.Equal(Errno.EINVAL, Leases.Pin(H1, id, new FileRange(0, 0), out _));
        Assert.Equal(Errno.EOVERFLOW, Leases.Pin(H1, id, new FileRange(2, long.MaxValue - 1), out _));

        Assert.Equal(before, Leases.List(), new LeaseInfoComparer());
    }

    [Fact]
    public void LeaseAndPinIdsAreNeverReused()
    {
        ulong ino = Setup();
        long a = Lease(ino, H1, P1, LeaseMode.Read, FileRange.WholeFile);
        long p = Pin(H1, a, new FileRange(0, 1));
        Assert.Equal(Errno.Ok, Leases.Release(H1, a));
        long b = Lease(ino, H1, P1, LeaseMode.Read, FileRange.WholeFile);
        long q = Pin(H1, b, new FileRange(0, 1));
        Assert.True(b > a && b != p && q > p && q != b);
        Assert.Equal(Errno.ENOENT, Leases.Release(H1, a));
    }

    // ---- layout changes against each lease state ----

    [Theory]
    [MemberData(nameof(AllChanges))]
    public void WithoutLeasesEveryLayoutChangeGoesAheadAtOnce(Change c)
    {
        ulong ino = Setup();
        var before = Snapshot(ino);
        Assert.Equal(Errno.Ok, Do(c, ino, H1));
        Assert.NotEqual(before, Snapshot(ino));
        Assert.Empty(_host.Recalled);
    }

    [Theory]
    [MemberData(nameof(AllChanges))]
    public void AnotherHandlesUnpinnedLeaseIsRecalledThenRevokedAtTheBreakTimeAndTheChangeGoesAhead(Change c)
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Read, Inside(c));
        var before = Snapshot(ino);
        var start = _clock.GetUtcNow();

        Assert.Equal(Errno.RetryAfterRecall, Do(c, ino, H1));
        Assert.Equal(before, Snapshot(ino));
        var told = Assert.Single(_host.Recalled);
        Assert.Equal((id, LeaseState.Recalled, (DateTimeOffset?)(start + Break)), (told.Id, told.State, told.RecallDeadline));
        Assert.Equal(LeaseState.Recalled, Only(id).State);
        var done = Leases.WhenBreaksEnd(ino);

        // Asking again before the deadline changes nothing, tells nobody twice, and never moves the deadline.
        _clock.Advance(Break - Tick);
        Assert.Equal(Errno.RetryAfterRecall, Do(c, ino, H1));
        Assert.Single(_host.Recalled);
        Assert.Equal(start + Break, Only(id).RecallDeadline);
        Assert.False(done.IsCompleted);
        Assert.Equal(before, Snapshot(ino));

        _clock.Advance(Tick);
        Completes(done);
        Assert.Equal(id, Assert.Single(_host.Revoked).Id);
        Assert.Empty(Leases.List());
        Assert.Equal(Errno.Ok, Do(c, ino, H1));
        Assert.NotEqual(before, Snapshot(ino));
    }

    [Theory]
    [MemberData(nameof(AllChanges))]
    public void APinInTheTouchedRangeFailsTheChangeWithEtxtbsyAtOnceAndNothingChanges(Change c)
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Write, Inside(c));
        long pin = Pin(H2, id, Inside(c));
        var before = Snapshot(ino);

        Assert.Equal(Errno.ETXTBSY, Do(c, ino, H1));
        Assert.Equal(Errno.ETXTBSY, Do(c, ino, H1));
        Assert.Equal(before, Snapshot(ino));
        Assert.Empty(_host.Recalled);
        Assert.Equal(LeaseState.Active, Only(id).State);

        // It was the pin: without it the lease is recalled instead.
        Assert.Equal(Errno.Ok, Leases.Unpin(H2, pin));
        Assert.Equal(Errno.RetryAfterRecall, Do(c, ino, H1));
    }

    [Theory]
    [MemberData(nameof(HandleChanges))]
    public void TheChangingHandlesOwnLeaseIsNeitherRecalledNorRevoked(Change c)
    {
        ulong ino = Setup();
        long id = Lease(ino, H1, P1, LeaseMode.Write, Inside(c));
        var before = Snapshot(ino);
        Assert.Equal(Errno.Ok, Do(c, ino, H1));
        Assert.NotEqual(before, Snapshot(ino));
        Assert.Empty(_host.Recalled);
        Assert.Equal(LeaseState.Active, Only(id).State);
    }

    [Theory]
    [MemberData(nameof(RangedChanges))]
    public void ALeaseOutsideTheTouchedRangeIsNotRecalledEvenWhenPinned(Change c)
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Write, Outside);
        Pin(H2, id, Outside);
        var before = Snapshot(ino);
        Assert.Equal(Errno.Ok, Do(c, ino, H1));
        Assert.NotEqual(before, Snapshot(ino));
        Assert.Empty(_host.Recalled);
        Assert.Equal(LeaseState.Active, Only(id).State);
    }

    [Fact]
    public void AnotherHandlesPinnedLeaseOverlappingTheRangeFailsWithEtxtbsyEvenWhereItIsNotPinned()
    {
        // Recalling it would end in revoking it, and revoking drops pins still in use.
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Pin(H2, id, new FileRange(0, 4 * Kb));
        Assert.Equal(Errno.ETXTBSY, Truncate(ino, 16 * Kb, H1));
        Assert.Empty(_host.Recalled);
        Assert.Equal(64 * Kb, _f.ReadAll(ino).Length);
    }

    [Fact]
    public void TheChangingHandlesOwnPinFailsTheChangeWithEtxtbsyOnlyWhereItIsTouched()
    {
        ulong ino = Setup();
        long id = Lease(ino, H1, P1, LeaseMode.Write, FileRange.WholeFile);
        long pin = Pin(H1, id, new FileRange(32 * Kb, 4 * Kb));
        Assert.Equal(Errno.ETXTBSY, Truncate(ino, 16 * Kb, H1));
        Assert.Equal(Errno.Ok, Leases.Unpin(H1, pin));
        Pin(H1, id, new FileRange(0, 4 * Kb));
        Assert.Equal(Errno.Ok, Truncate(ino, 16 * Kb, H1));
        Assert.Equal(LeaseState.Active, Only(id).State);
    }

    [Fact]
    public void ATruncateThroughAPathIsAnotherHandleToEveryLease()
    {
        ulong ino = Setup();
        Lease(ino, H1, P1, LeaseMode.Write, FileRange.WholeFile);
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 0, handle: 0));
    }

    [Fact]
    public void PunchingPartOfABlockRecallsALeaseOnAnotherPartOfThatBlockButNotOfTheNext()
    {
        // The block holding the punched bytes is replaced by a copy: its physical address changes.
        ulong ino = Setup();
        long sameBlock = Lease(ino, H2, P2, LeaseMode.Read, new FileRange(0, 100));
        long nextBlock = Lease(ino, H3, P3, LeaseMode.Read, new FileRange(4 * Kb, 100));
        Assert.Equal(Errno.RetryAfterRecall, Fs.Fallocate(ino, FallocateMode.PunchHole | FallocateMode.KeepSize, 200, 100, Credentials.Root, H1));
        Assert.Equal(sameBlock, Assert.Single(_host.Recalled).Id);
        Assert.Equal(LeaseState.Active, Only(nextBlock).State);
    }

    [Fact]
    public void TruncatingToTheSameSizeIsNoLayoutChange()
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        Pin(H2, id, FileRange.WholeFile);
        Assert.Equal(Errno.Ok, Truncate(ino, 64 * Kb, H1));
        Assert.Empty(_host.Recalled);
    }

    [Fact]
    public void ExtendingPreallocationRecallsLeasesFromTheOldSize()
    {
        // fallocate without KEEP_SIZE past EOF turns [old size, offset) into a hole inside the file.
        ulong ino = Setup();
        Lease(ino, H2, P2, LeaseMode.Read, new FileRange(70 * Kb, Kb));
        Assert.Equal(Errno.RetryAfterRecall, Fs.Fallocate(ino, FallocateMode.Default, 80 * Kb, 4 * Kb, Credentials.Root, H1));
    }

    // ---- what is not a layout change ----

    [Fact]
    public void WritesIntoAPinnedLeasedRangeAreNotLayoutChanges()
    {
        // Overwrite, fill a hole, convert unwritten blocks, extend: nothing a holder was given moves.
        ulong ino = _f.CreateFile(Root, "sparse");
        _f.Write(ino, 0, Pattern(4 * Kb, 1));
        _f.Write(ino, 32 * Kb, Pattern(4 * Kb, 2));
        Assert.Equal(Errno.Ok, Fs.Fallocate(ino, FallocateMode.KeepSize, 36 * Kb, 8 * Kb, Credentials.Root));
        long id = Lease(ino, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        Pin(H2, id, FileRange.WholeFile);
        _f.Write(ino, 0, Pattern(100, 3));        // overwrite
        _f.Write(ino, 8 * Kb, Pattern(100, 4));   // hole
        _f.Write(ino, 36 * Kb, Pattern(100, 5));  // unwritten, extends
        _f.Write(ino, 60 * Kb, Pattern(100, 6));  // past EOF
        Assert.Empty(_host.Recalled);
        Assert.Equal(LeaseState.Active, Only(id).State);
    }

    [Fact]
    public void AttributeChangesRenamesAndUnlinkingANameThatIsNotTheLastAreNotLayoutChanges()
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        Pin(H2, id, FileRange.WholeFile);
        Assert.Equal(Errno.Ok, Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode | SetAttrFields.MtimeNow, Mode = 0x180 }, Credentials.Root, out _));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.NoAtime, InodeFlags.None, Credentials.Root, out _));
        Assert.Equal(Errno.Ok, Fs.Link(ino, Root, N("f2"), out _));
        Assert.Equal(Errno.Ok, Fs.Rename(Root, N("f"), Root, N("f3")));
        Assert.Equal(Errno.Ok, Fs.Unlink(Root, N("f3"))); // f2 is left
        Assert.Empty(_host.Recalled);
        Assert.Equal(LeaseState.Active, Only(id).State);
        Assert.Equal(Errno.ETXTBSY, Fs.Unlink(Root, N("f2"))); // the last one is
    }

    // ---- DAX_IMMUTABLE (rules 3 and 6) ----

    private ulong DaxImmutableFile()
    {
        ulong ino = Setup();
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.DaxImmutable, InodeFlags.None, Credentials.Root, out _));
        return ino;
    }

    [Fact]
    public void ClearingDaxImmutableOrDaxWhileAnyLeaseIsHeldFailsWithEbusyAndRecallsNothing()
    {
        ulong ino = DaxImmutableFile();
        long id = Lease(ino, H2, P2, LeaseMode.Read, new FileRange(0, 4 * Kb));
        Assert.Equal(Errno.EBUSY, Fs.SetFlags(ino, InodeFlags.None, InodeFlags.DaxImmutable, Credentials.Root, out _, handle: H1));
        Assert.Equal(Errno.EBUSY, Fs.SetFlags(ino, InodeFlags.None, InodeFlags.Dax, Credentials.Root, out _, handle: H1));
        Assert.Equal(Errno.EBUSY, Fs.SetFlags(ino, InodeFlags.None, InodeFlags.DaxImmutable, Credentials.Root, out _, handle: H2)); // the holder's own too
        Assert.Empty(_host.Recalled);
        Assert.Equal(InodeFlags.Dax | InodeFlags.DaxImmutable, Fs.GetFlags(ino, out var s) == Errno.Ok ? s.Flags : 0);

        Assert.Equal(Errno.Ok, Leases.Release(H2, id));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.None, InodeFlags.DaxImmutable, Credentials.Root, out _, handle: H1));
    }

    [Fact]
    public void LayoutChangesOfADaxImmutableFileFailWithEpermBeforeAnyLeaseIsConsidered()
    {
        ulong ino = DaxImmutableFile();
        long id = Lease(ino, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        Pin(H2, id, FileRange.WholeFile);
        Assert.Equal(Errno.EPERM, Truncate(ino, 0, H1));
        Assert.Equal(Errno.EPERM, Fs.Fallocate(ino, FallocateMode.PunchHole | FallocateMode.KeepSize, 0, 4 * Kb, Credentials.Root, H1));
        Assert.Equal(Errno.EPERM, Fs.Unlink(Root, N("f")));
        Assert.Empty(_host.Recalled);
    }

    [Fact]
    public void SettingDaxImmutableOnALeasedFileRecallsNothing()
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.DaxImmutable, InodeFlags.None, Credentials.Root, out _, handle: H1));
        Assert.Empty(_host.Recalled);
        Assert.Equal(LeaseState.Active, Only(id).State);
    }

    // ---- how a lease ends ----

    [Fact]
    public void ReleaseEndsTheLeaseAndItsPinsAndTheChangeGoesAheadAtOnce()
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        long pin = Pin(H2, id, FileRange.WholeFile);
        Assert.Equal(Errno.Ok, Leases.Release(H2, id));
        Assert.Empty(Leases.List());
        Assert.Equal(Errno.ENOENT, Leases.Unpin(H2, pin));
        Assert.Equal(Errno.Ok, Truncate(ino, 0, H1));
        Assert.Empty(_host.Recalled);
    }

    [Fact]
    public void ReleasingTheHandleEndsItsLeasesAndNoOthers()
    {
        ulong ino = Setup();
        Lease(ino, H2, P2, LeaseMode.Read, new FileRange(0, 4 * Kb));
        Lease(ino, H2, P2, LeaseMode.Write, new FileRange(8 * Kb, 4 * Kb));
        long other = Lease(ino, H3, P2, LeaseMode.Read, new FileRange(0, 4 * Kb));
        Fs.Closed(ino, H2);
        Assert.Equal(other, Assert.Single(Leases.List()).Id);
        Assert.Empty(_host.Revoked); // ended, not revoked: the holder gave up its handle
    }

    [Fact]
    public void TheEndOfAProcessEndsItsLeasesOnEveryHandleAndNoOthers()
    {
        ulong ino = Setup();
        Lease(ino, H1, P1, LeaseMode.Read, new FileRange(0, 4 * Kb));
        Lease(ino, H2, P1, LeaseMode.Read, new FileRange(0, 4 * Kb));
        long other = Lease(ino, H3, P2, LeaseMode.Read, new FileRange(0, 4 * Kb));
        Assert.Equal(2, Leases.EndLeasesOfProcess(P1));
        Assert.Equal(other, Assert.Single(Leases.List()).Id);
        Assert.Equal(0, Leases.EndLeasesOfProcess(P1));
    }

    [Fact]
    public void AHolderThatGivesBackARecalledLeaseLetsTheChangeGoAheadBeforeTheDeadline()
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 0, H1));
        var done = Leases.WhenBreaksEnd(ino);
        Assert.False(done.IsCompleted);
        Assert.Equal(Errno.Ok, Leases.Release(H2, id));
        Completes(done);
        Assert.Equal(Errno.Ok, Truncate(ino, 0, H1));
        Assert.Empty(_host.Revoked);
    }

    [Fact]
    public void AProcessThatDiesWhileRecalledLetsTheChangeGoAheadBeforeTheDeadline()
    {
        ulong ino = Setup();
        Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(Errno.RetryAfterRecall, Fs.Unlink(Root, N("f")));
        var done = Leases.WhenBreaksEnd();
        Leases.EndLeasesOfProcess(P2);
        Completes(done);
        Assert.Equal(Errno.Ok, Fs.Unlink(Root, N("f")));
    }

    [Fact]
    public void LeasesLiveInMemoryOnlyAndEndWithTheMount()
    {
        ulong ino = Setup();
        Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 0, H1));
        var done = Fs.Leases.WhenBreaksEnd(ino);
        _f.Remount(new FileSystemOptions { Time = _clock });
        Completes(done); // nobody waits on an unmounted file system
        Assert.Empty(Fs.Leases.List());
        Assert.Equal(Errno.Ok, Truncate(ino, 0));
        Assert.Equal(0, _clock.ArmedTimers);
    }

    // ---- the recall itself ----

    [Fact]
    public void NewLeasesOverlappingARecallInProgressAreRefusedWithEagainUntilTheChangeGoesAhead()
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 16 * Kb, H1));
        Assert.Equal(Errno.EAGAIN, Leases.Acquire(ino, H3, P3, LeaseMode.Read, new FileRange(20 * Kb, 1), out _));
        // Also in the gap between the holder's release and the change's retry: the retry must find the range free.
        Assert.Equal(Errno.Ok, Leases.Release(H2, id));
        Assert.Equal(Errno.EAGAIN, Leases.Acquire(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile, out _));
        Lease(ino, H3, P3, LeaseMode.Read, new FileRange(0, 16 * Kb)); // outside the change: fine
        Assert.Equal(Errno.Ok, Truncate(ino, 16 * Kb, H1));
        Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
    }

    [Fact]
    public void ABreakWhoseOperationNeverComesBackIsForgottenOneBreakTimeAfterItsDeadline()
    {
        ulong ino = Setup();
        Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 0, H1));
        _clock.Advance(Break);
        Assert.Single(_host.Revoked);
        _clock.Advance(Break - Tick);
        Assert.Equal(Errno.EAGAIN, Leases.Acquire(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile, out _));
        _clock.Advance(Tick);
        Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(0, _clock.ArmedTimers);
    }

    [Fact]
    public void ARecalledLeaseTakesNoNewPinsWithEbusy()
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 0, H1));
        Assert.Equal(Errno.EBUSY, Leases.Pin(H2, id, new FileRange(0, 1), out _));
        Assert.Empty(Only(id).Pins);
    }

    [Fact]
    public void TwoChangesRecallingOneLeaseShareItsFirstDeadline()
    {
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        var start = _clock.GetUtcNow();
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 0, H1));
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(Errno.RetryAfterRecall, Fs.Fallocate(ino, FallocateMode.ZeroRange, 0, 4 * Kb, Credentials.Root, H3));
        Assert.Single(_host.Recalled);
        Assert.Equal(start + Break, Only(id).RecallDeadline);
        var both = Leases.WhenBreaksEnd(ino);
        _clock.Advance(TimeSpan.FromSeconds(15));
        Completes(both);
        Assert.Equal(Errno.Ok, Fs.Fallocate(ino, FallocateMode.ZeroRange, 0, 4 * Kb, Credentials.Root, H3));
        Assert.Equal(Errno.Ok, Truncate(ino, 0, H1));
    }

    [Fact]
    public void ARecallWaitsForEveryOverlappingLeaseAndRevokesOnlyThoseStillHeld()
    {
        ulong ino = Setup();
        long a = Lease(ino, H2, P2, LeaseMode.Read, new FileRange(16 * Kb, 4 * Kb));
        long b = Lease(ino, H3, P3, LeaseMode.Read, new FileRange(40 * Kb, 4 * Kb));
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 8 * Kb, H1));
        Assert.Equal(2, _host.Recalled.Count);
        var done = Leases.WhenBreaksEnd(ino);
        Assert.Equal(Errno.Ok, Leases.Release(H2, a));
        Assert.False(done.IsCompleted);
        _clock.Advance(Break);
        Completes(done);
        Assert.Equal(b, Assert.Single(_host.Revoked).Id);
        Assert.Equal(Errno.Ok, Truncate(ino, 8 * Kb, H1));
    }

    [Fact]
    public void WithABreakTimeOfZeroLeasesAreRevokedAtOnceAndTheChangeGoesAhead()
    {
        _f.Remount(new FileSystemOptions { Time = _clock, LeaseBreakTime = TimeSpan.Zero });
        Fs.Leases.Host = _host;
        ulong ino = Setup();
        long id = Lease(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(Errno.Ok, Truncate(ino, 0, H1));
        Assert.Equal(id, Assert.Single(_host.Revoked).Id);
        Assert.Empty(Fs.Leases.List());
        Assert.Equal(0, _clock.ArmedTimers);
    }

    [Fact]
    public void TheDefaultBreakTimeIsTheKernels45SecondsAndOutOfRangeBreakTimesAreRefusedAtMount()
    {
        Assert.Equal(TimeSpan.FromSeconds(45), new FileSystemOptions().LeaseBreakTime);
        Assert.Throws<ArgumentOutOfRangeException>(() => _f.Remount(new FileSystemOptions { LeaseBreakTime = TimeSpan.FromSeconds(-1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => FileSystem.Mount(_f.Media, new FileSystemOptions { LeaseBreakTime = TimeSpan.FromHours(2) }));
    }

    [Fact]
    public async Task WhileARecallIsPendingTheFileIsNotLockedAndOtherRequestsAreAnswered()
    {
        ulong ino = Setup();
        Lease(ino, H2, P2, LeaseMode.Read, new FileRange(32 * Kb, 4 * Kb));
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 16 * Kb, H1));
        // From another thread (a second FUSE worker, or the loop itself): the inode lock is free.
        var other = Task.Run(() =>
        {
            var write = Fs.Write(ino, 0, Pattern(4 * Kb, 9), Credentials.Root, out _);
            var read = Fs.Read(ino, 0, new byte[4 * Kb], out _);
            var attr = Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1A4 }, Credentials.Root, out _);
            return (write, read, attr);
        });
        Assert.Equal((Errno.Ok, Errno.Ok, Errno.Ok), await other.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    // ---- queries ----

    [Fact]
    public void ListShowsEveryLeaseWithHolderFileRangeModePinsStateAndDeadline()
    {
        ulong ino = Setup();
        ulong g = _f.LookupIno(Root, "g");
        var granted = _clock.GetUtcNow();
        long a = Lease(ino, H2, P2, LeaseMode.Write, new FileRange(0, 16 * Kb));
        long pin = Pin(H2, a, new FileRange(4 * Kb, 4 * Kb));
        long b = Lease(ino, H3, P3, LeaseMode.Read, FileRange.From(32 * Kb));
        long c = Lease(g, H4, P1, LeaseMode.Read, FileRange.WholeFile);
        Assert.Equal(Errno.RetryAfterRecall, Truncate(ino, 40 * Kb, H1));

        var all = Leases.List();
        Assert.Equal(new[] { a, b, c }, all.Select(l => l.Id));
        var la = all[0];
        Assert.Equal((ino, H2, P2, LeaseMode.Write, new FileRange(0, 16 * Kb), LeaseState.Active, granted, (DateTimeOffset?)null),
            (la.Ino, la.Handle, la.Pid, la.Mode, la.Range, la.State, la.Granted, la.RecallDeadline));
        Assert.Equal(new[] { new PinInfo(pin, new FileRange(4 * Kb, 4 * Kb)) }, la.Pins);
        var lb = all[1];
        Assert.Equal((LeaseState.Recalled, (DateTimeOffset?)(granted + Break), true), (lb.State, lb.RecallDeadline, lb.Range.IsToEnd));
        Assert.Empty(lb.Pins);
        Assert.Equal(new[] { a, b }, Leases.ListOf(ino).Select(l => l.Id));
        Assert.Equal(new[] { c }, Leases.ListOf(g).Select(l => l.Id));
        Assert.Empty(Leases.ListOf(Root));
        Assert.True(Leases.HasLeases(ino));
        Assert.False(Leases.HasLeases(Root));
    }

    /// <summary>
    /// The host hears of every lease that ends, once, however it ends: the daemon drops the
    /// kernel's cached pages of a write-leased file then (docs/direct.md, coherence).
    /// </summary>
    [Fact]
    public void TheHostIsToldOnceOfEveryLeaseThatEndsWhateverEndsIt()
    {
        ulong ino = Setup();
        ulong other = _f.CreateFile(Root, "h");
        Assert.Equal(Errno.Ok, Leases.Acquire(ino, H1, P1, LeaseMode.Write, FileRange.From(32 * Kb), out long released));
        Assert.Equal(Errno.Ok, Leases.Acquire(ino, H2, P2, LeaseMode.Read, new FileRange(0, 4 * Kb), out long closed));
        Assert.Equal(Errno.Ok, Leases.Acquire(other, H3, P3, LeaseMode.Write, FileRange.WholeFile, out long died));
        Assert.Equal(Errno.Ok, Leases.Acquire(ino, H4, P3 + 1, LeaseMode.Read, new FileRange(16 * Kb, 4 * Kb), out long revoked));
        Assert.Empty(_host.Ended);

        Assert.Equal(Errno.Ok, Leases.Release(H1, released));
        Assert.Equal(Errno.ENOENT, Leases.Release(H1, released));
        Fs.Closed(ino, H2);
        Leases.EndLeasesOfProcess(P3);
        Assert.Equal([released, closed, died], _host.Ended.Select(l => l.Id));
        Assert.Equal((ino, LeaseMode.Write), (_host.Ended[0].Ino, _host.Ended[0].Mode));
        Assert.Equal((other, LeaseMode.Write), (_host.Ended[2].Ino, _host.Ended[2].Mode));

        // Revoked at the deadline: LeaseRevoked, then LeaseEnded.
        Assert.Equal(Errno.RetryAfterRecall, Do(Change.PunchHole, ino, H1));
        _clock.Advance(Break);
        Completes(Leases.WhenBreaksEnd(ino));
        Assert.Equal(revoked, Assert.Single(_host.Revoked).Id);
        Assert.Equal([released, closed, died, revoked], _host.Ended.Select(l => l.Id));
        Assert.Empty(Leases.List());
    }

    // ---- the daemon's shape, on the real clock ----

    [Fact]
    public async Task OnTheSystemClockARecalledChangeIsRetriedAsSoonAsAResponsiveHolderGivesBack()
    {
        // A long break time: the change must not wait for it when the holder answers.
        using var f = new EngineFixture(rootFlags: InodeFlags.Dax, options: new FileSystemOptions { LeaseBreakTime = TimeSpan.FromSeconds(30) });
        var host = new RecordingLeaseHost();
        f.Fs.Leases.Host = host;
        ulong ino = f.CreateFile(Root, "f");
        f.Write(ino, 0, Pattern(8 * Kb, 1));
        Assert.Equal(Errno.Ok, f.Fs.Leases.Acquire(ino, H2, P2, LeaseMode.Read, FileRange.WholeFile, out _));
        // It gives back when told, off the notifying thread, as a real holder would.
        host.OnRecall = l => ThreadPool.QueueUserWorkItem(_ => f.Fs.Leases.Release(l.Handle, l.Id));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(Errno.Ok, await RetryingAsync(f.Fs, () => TruncateOn(f.Fs, ino, 4 * Kb)));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(25), $"took {sw.Elapsed}");
        Assert.Single(host.Recalled);
        Assert.Empty(host.Revoked);
    }

    [Fact]
    public async Task OnTheSystemClockARecalledChangeGoesAheadAtTheBreakTimeWhenTheHolderNeverAnswers()
    {
        using var f = new EngineFixture(rootFlags: InodeFlags.Dax, options: new FileSystemOptions { LeaseBreakTime = TimeSpan.FromMilliseconds(300) });
        var host = new RecordingLeaseHost();
        f.Fs.Leases.Host = host;
        ulong ino = f.CreateFile(Root, "f");
        f.Write(ino, 0, Pattern(8 * Kb, 1));
        Assert.Equal(Errno.Ok, f.Fs.Leases.Acquire(ino, H3, P3, LeaseMode.Read, FileRange.WholeFile, out _));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(Errno.Ok, await RetryingAsync(f.Fs, () => TruncateOn(f.Fs, ino, 0)));
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(20));
        Assert.Single(host.Revoked);
        Assert.Empty(f.Fs.Leases.List());
    }

    [Fact]
    public async Task ConcurrentHoldersAndChangersNeverHoldConflictingLeasesAndEveryChangeFinishes()
    {
        // Four threads take, pin and give back leases and change the layout through their own
        // handles, on the system clock with a short break time; holders give back when told
        // half of the time. Nothing deadlocks, every change ends within its retries, and no two
        // conflicting leases are ever listed together. (A retry may recall again here: another
        // thread's truncate can move the size, and with it the range a truncate touches.)
        using var f = new EngineFixture(rootFlags: InodeFlags.Dax, options: new FileSystemOptions { LeaseBreakTime = TimeSpan.FromMilliseconds(5) });
        var host = new RecordingLeaseHost();
        f.Fs.Leases.Host = host;
        host.OnRecall = l => { if (l.Id % 2 == 0) ThreadPool.QueueUserWorkItem(_ => f.Fs.Leases.Release(l.Handle, l.Id)); };
        ulong ino = f.CreateFile(Root, "f");
        f.Write(ino, 0, Pattern(64 * Kb, 1));
        int conflicts = 0;

        async Task Worker(int w)
        {
            var rnd = new Random(w);
            ulong handle = 1000 + (ulong)w;
            var mine = new List<long>();
            for (int i = 0; i < 150; i++)
            {
                long off = rnd.Next(16) * 4 * Kb, len = (rnd.Next(4) + 1) * 4 * Kb;
                switch (rnd.Next(5))
                {
                    case 0:
                    case 1:
                        if (f.Fs.Leases.Acquire(ino, handle, w, rnd.Next(2) == 0 ? LeaseMode.Read : LeaseMode.Write, new FileRange(off, len), out long id) == Errno.Ok)
                        {
                            mine.Add(id);
                            if (rnd.Next(3) == 0) f.Fs.Leases.Pin(handle, id, new FileRange(off, 4 * Kb), out _);
                        }
                        break;
                    case 2:
                        if (mine.Count > 0) { f.Fs.Leases.Release(handle, mine[^1]); mine.RemoveAt(mine.Count - 1); }
                        break;
                    default:
                        var errno = await RetryingAsync(f.Fs, () => rnd.Next(2) == 0
                            ? f.Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 64 * Kb - off }, Credentials.Root, out _, handle)
                            : f.Fs.Fallocate(ino, FallocateMode.ZeroRange, off, len, Credentials.Root, handle), attempts: 50);
                        Assert.True(errno == Errno.Ok || errno == Errno.ETXTBSY, errno.ToString());
                        break;
                }
                var all = f.Fs.Leases.List();
                foreach (var a in all)
                    foreach (var b in all)
                        if (a.Id < b.Id && a.Handle != b.Handle && a.Range.Overlaps(b.Range) && (a.Mode == LeaseMode.Write || b.Mode == LeaseMode.Write))
                            Interlocked.Increment(ref conflicts);
            }
            f.Fs.Closed(ino, handle);
        }

        await Task.WhenAll(Enumerable.Range(1, 4).Select(w => Task.Run(() => Worker(w)))).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(0, conflicts);
        Assert.Empty(f.Fs.Leases.List());
    }

    private static Errno TruncateOn(FileSystem fs, ulong ino, long size) =>
        fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = size }, Credentials.Root, out _, H1);

    /// <summary>What the daemon does with a layout change: on RetryAfterRecall, await the break off the loop, then issue it again.</summary>
    private static async Task<Errno> RetryingAsync(FileSystem fs, Func<Errno> op, int attempts = 4)
    {
        for (int attempt = 0; attempt < attempts; attempt++)
        {
            var errno = op();
            if (errno != Errno.RetryAfterRecall) return errno;
            await fs.Leases.WhenBreaksEnd();
        }
        return Errno.RetryAfterRecall;
    }

    private sealed class LeaseInfoComparer : IEqualityComparer<LeaseInfo>
    {
        public bool Equals(LeaseInfo? x, LeaseInfo? y) =>
            x is not null && y is not null && x with { Pins = [] } == y with { Pins = [] } && x.Pins.SequenceEqual(y.Pins);

        public int GetHashCode(LeaseInfo obj) => obj.Id.GetHashCode();
    }

    // ---- shared extents (docs/sharing.md, "Flags and leases") ----

    /// <summary>A clone onto a range another handle leases recalls that lease; after the break time it is revoked and the clone goes ahead.</summary>
    [Fact]
    public void CloneOntoALeasedRangeRecallsThenProceeds()
    {
        ulong ino = Setup();
        ulong src = _f.CreateFile(Root, "src");
        _f.Write(src, 0, Pattern(16 * Kb, 3));
        long id = Lease(ino, H2, P2, LeaseMode.Read, new FileRange(0, 8 * Kb));
        var before = Snapshot(ino);
        Assert.Equal(Errno.RetryAfterRecall, Fs.CloneRange(src, 0, ino, 0, 16 * Kb, Credentials.Root, H1, out _));
        Assert.Equal(before, Snapshot(ino));
        Assert.Equal(id, Assert.Single(_host.Recalled).Id);
        _clock.Advance(Break);
        Completes(Leases.WhenBreaksEnd(ino));
        Assert.Equal(Errno.Ok, Fs.CloneRange(src, 0, ino, 0, 16 * Kb, Credentials.Root, H1, out long n));
        Assert.Equal(16 * Kb, n);
    }

    [Fact]
    public void CloneOntoAPinnedRangeIsTextFileBusyAtOnce()
    {
        ulong ino = Setup();
        ulong src = _f.CreateFile(Root, "src");
        _f.Write(src, 0, Pattern(16 * Kb, 3));
        long id = Lease(ino, H2, P2, LeaseMode.Write, FileRange.WholeFile);
        Pin(H2, id, new FileRange(4 * Kb, 4 * Kb));
        var before = Snapshot(ino);
        Assert.Equal(Errno.ETXTBSY, Fs.CloneRange(src, 0, ino, 0, 16 * Kb, Credentials.Root, H1, out _));
        Assert.Equal(before, Snapshot(ino));
        Assert.Empty(_host.Recalled);
    }

    /// <summary>The source's blocks become shared: a write-lease holder's direct stores there would reach the clone, so its lease is recalled too.</summary>
    [Fact]
    public void CloneFromALeasedRangeRecallsTheSourcesLease()
    {
        ulong ino = Setup();
        ulong dst = _f.CreateFile(Root, "dst");
        long id = Lease(ino, H2, P2, LeaseMode.Write, new FileRange(0, 8 * Kb));
        Assert.Equal(Errno.RetryAfterRecall, Fs.CloneRange(ino, 0, dst, 0, 16 * Kb, Credentials.Root, 0, out _));
        Assert.Equal(id, Assert.Single(_host.Recalled).Id);
        Assert.Equal(0, Fs.SharingUsage.SharedBlocks);
    }

    /// <summary>Copy on write moves a leased range to new blocks: a write there recalls other handles' leases first.</summary>
    [Fact]
    public void AWriteThatCopiesSharedBlocksRecallsTheirLeases()
    {
        ulong ino = Setup();
        ulong copy = _f.CreateFile(Root, "copy");
        Assert.Equal(Errno.Ok, Fs.CloneRange(ino, 0, copy, 0, 0, Credentials.Root, 0, out _));
        long id = Lease(ino, H2, P2, LeaseMode.Read, new FileRange(0, 8 * Kb));
        Assert.Equal(Errno.RetryAfterRecall, Fs.Write(ino, 100, Pattern(10, 4), Credentials.Root, out _));
        Assert.Equal(id, Assert.Single(_host.Recalled).Id);
        // A write outside the leased range copies without asking anyone.
        Assert.Equal(Errno.Ok, Fs.Write(ino, 20 * Kb, Pattern(10, 5), Credentials.Root, out _));
    }
}
