using PmemFs.Engine.Mapping;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;
using MapState = PmemFs.Engine.Mapping.ExtentState;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Shared extents: clone, copy on write by every mutating operation, reference counts after
/// each (checked by a remount, whose table check is SharedBlocks' rule), frees, ENOSPC.
/// </summary>
public class SharingTests
{
    private const int Bs = FormatConstants.BlockSize;

    private static (ulong A, ulong B, byte[] Data) TwoSharing(EngineFixture t, int bytes = 64 * Bs, long offset = 0)
    {
        ulong a = t.CreateFile(Root, "a");
        ulong b = t.CreateFile(Root, "b");
        var data = Pattern(bytes, 11);
        t.Write(a, 0, data);
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, b, offset, 0, Credentials.Root, 0, out long cloned));
        Assert.Equal(bytes, cloned);
        return (a, b, data);
    }

    private static List<MappedExtent> Map(EngineFixture t, ulong ino)
    {
        var into = new MappedExtent[256];
        Assert.Equal(Errno.Ok, t.Fs.GetExtentMap(ino, 0, long.MaxValue / 2, into, out int n, out _));
        return into[..n].ToList();
    }

    private static long SharedBytes(EngineFixture t, ulong ino) => Map(t, ino).Where(e => e.State == MapState.Shared).Sum(e => e.Length);

    private static void Truncate(EngineFixture t, ulong ino, long size) =>
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = size }, Credentials.Root, out _));

    [Fact]
    public void ACloneSharesEveryBlockCopiesNothingAndSurvivesARemount()
    {
        using var t = new EngineFixture();
        ulong a = t.CreateFile(Root, "a");
        var data = Pattern(256 * Bs, 3);
        t.Write(a, 0, data);
        long free = t.Fs.StatFs().FreeBlocks;
        ulong b = t.CreateFile(Root, "b");
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, b, 0, 0, Credentials.Root, 0, out long cloned));
        Assert.Equal(data.Length, cloned);
        Assert.Equal(free, t.Fs.StatFs().FreeBlocks); // shared blocks count once
        Assert.Equal(data, t.ReadAll(b));
        Assert.Equal(data.Length, SharedBytes(t, a));
        Assert.Equal(data.Length, SharedBytes(t, b));
        Assert.Equal(Map(t, a).Select(e => e.PhysicalOffset), Map(t, b).Select(e => e.PhysicalOffset));
        t.Remount();
        Assert.Equal(data, t.ReadAll(b));
        Assert.Equal(data.Length, SharedBytes(t, b));
        Assert.Equal(2u, BitConverter.ToUInt32(t.Media.Read(4, 4))); // format version 2
    }

    public static TheoryData<string> Mutations => new() { "write-middle", "write-edge", "write-across-end", "truncate-into", "truncate-grow-after", "punch-middle", "punch-edges", "zero-range", "zero-edges", "prealloc" };

    /// <summary>Every mutating operation on either owner changes that owner only; counts stay exact (remount checks them).</summary>
    [Theory]
    [MemberData(nameof(Mutations))]
    public void EveryMutationOfOneOwnerLeavesTheOtherAsItWas(string mutation)
    {
        foreach (bool onClone in new[] { false, true })
        {
            using var t = new EngineFixture();
            long empty = t.Fs.StatFs().FreeBlocks;
            var (a, b, data) = TwoSharing(t);
            ulong target = onClone ? b : a, other = onClone ? a : b;
            var model = (byte[])data.Clone();
            Mutate(t, target, mutation, ref model);
            Assert.Equal(data, t.ReadAll(other));
            Assert.Equal(model, t.ReadAll(target));
            t.Remount();
            Assert.Equal(data, t.ReadAll(other));
            Assert.Equal(model, t.ReadAll(target));
            // Drop both: every block comes back (nothing leaked, nothing freed twice).
            Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("a")));
            Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("b")));
            Assert.Equal(empty, t.Fs.StatFs().FreeBlocks);
            t.Remount();
            Assert.Equal(empty, t.Fs.StatFs().FreeBlocks);
            Assert.Equal(0, t.Fs.Sharing.RecordCount);
        }
    }

    private static void Mutate(EngineFixture t, ulong f, string mutation, ref byte[] model)
    {
        switch (mutation)
        {
            case "write-middle":
            {
                var p = Pattern(3 * Bs, 5);
                t.Write(f, 10 * Bs, p);
                p.CopyTo(model, 10 * Bs);
                break;
            }
            case "write-edge":
            {
                var p = Pattern(100, 6);
                t.Write(f, 5 * Bs + 4000, p); // crosses a block boundary: two partial blocks copied
                p.CopyTo(model, 5 * Bs + 4000);
                break;
            }
            case "write-across-end":
            {
                var p = Pattern(3 * Bs, 7);
                t.Write(f, model.Length - Bs - 10, p);
                var m = new byte[model.Length - Bs - 10 + p.Length];
                model.CopyTo(m, 0);
                p.CopyTo(m, model.Length - Bs - 10);
                model = m;
                break;
            }
            case "truncate-into":
                Truncate(t, f, 20 * Bs + 123);
                model = model[..(20 * Bs + 123)];
                break;
            case "truncate-grow-after":
            {
                Truncate(t, f, 20 * Bs + 123);
                Truncate(t, f, 30 * Bs);
                var m = new byte[30 * Bs];
                model.AsSpan(0, 20 * Bs + 123).CopyTo(m);
                model = m;
                break;
            }
            case "punch-middle":
                Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.PunchHole | FallocateMode.KeepSize, 8 * Bs, 4 * Bs, Credentials.Root));
                Array.Clear(model, 8 * Bs, 4 * Bs);
                break;
            case "punch-edges":
                Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.PunchHole | FallocateMode.KeepSize, 8 * Bs + 100, 4 * Bs, Credentials.Root));
                Array.Clear(model, 8 * Bs + 100, 4 * Bs);
                break;
            case "zero-range":
                Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.ZeroRange, 16 * Bs, 8 * Bs, Credentials.Root));
                Array.Clear(model, 16 * Bs, 8 * Bs);
                // The zeroed blocks are unwritten now; a partial write there must not reach the other owner.
                var z = Pattern(10, 8);
                t.Write(f, 16 * Bs + 50, z);
                z.CopyTo(model, 16 * Bs + 50);
                break;
            case "zero-edges":
                Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.ZeroRange | FallocateMode.KeepSize, 16 * Bs + 7, 8 * Bs, Credentials.Root));
                Array.Clear(model, 16 * Bs + 7, 8 * Bs);
                break;
            case "prealloc":
            {
                Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.Default, 0, 100 * Bs, Credentials.Root));
                var m = new byte[100 * Bs];
                model.CopyTo(m, 0);
                model = m;
                break;
            }
            default: throw new ArgumentException(mutation);
        }
    }

    [Fact]
    public void UnlinkingOneOwnerFreesNothingStillShared()
    {
        using var t = new EngineFixture();
        ulong a = t.CreateFile(Root, "a");
        long empty = t.Fs.StatFs().FreeBlocks;
        var data = Pattern(128 * Bs, 9);
        t.Write(a, 0, data);
        long withA = t.Fs.StatFs().FreeBlocks;
        ulong b = t.CreateFile(Root, "b");
        ulong c = t.CreateFile(Root, "c");
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, b, 0, 0, Credentials.Root, 0, out _));
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(b, 0, c, 0, 0, Credentials.Root, 0, out _)); // count 3
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("a")));
        Assert.Equal(withA, t.Fs.StatFs().FreeBlocks);
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("b")));
        Assert.Equal(withA, t.Fs.StatFs().FreeBlocks);
        t.Remount();
        Assert.Equal(data, t.ReadAll(c));
        Assert.Equal(0, SharedBytes(t, c)); // one owner left: no record
        Assert.Equal(0, t.Fs.Sharing.RecordCount);
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("c")));
        Assert.Equal(empty, t.Fs.StatFs().FreeBlocks);
    }

    [Fact]
    public void AFileMayShareBlocksWithItselfAndTruncatingItFreesThemOnce()
    {
        using var t = new EngineFixture();
        ulong a = t.CreateFile(Root, "a");
        long empty = t.Fs.StatFs().FreeBlocks;
        var data = Pattern(16 * Bs, 4);
        t.Write(a, 0, data);
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, a, 32 * Bs, 16 * Bs, Credentials.Root, 0, out _));
        var all = t.ReadAll(a);
        Assert.Equal(48 * Bs, all.Length);
        Assert.Equal(data, all[(32 * Bs)..]);
        Assert.Equal(empty - 16, t.Fs.StatFs().FreeBlocks);
        t.Remount();
        Truncate(t, a, 0);
        Assert.Equal(empty, t.Fs.StatFs().FreeBlocks);
        t.Remount();
        Assert.Equal(0, t.Fs.Sharing.RecordCount);
    }

    [Fact]
    public void CopyOnWriteThatFindsNoSpaceFailsWholeAndChangesNothing()
    {
        using var t = new EngineFixture(size: 32L << 20);
        ulong a = t.CreateFile(Root, "a");
        var data = Pattern(512 * Bs, 12);
        t.Write(a, 0, data);
        ulong b = t.CreateFile(Root, "b");
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, b, 0, 0, Credentials.Root, 0, out _));
        ulong filler = t.CreateFile(Root, "filler");
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(filler, 0, new byte[64 << 20], Credentials.Root, out int filled));
        Assert.True(filled > 0);
        long free = t.Fs.StatFs().FreeBlocks;
        Assert.True(free < 64, $"{free} blocks still free");
        var big = Pattern(256 * Bs, 13);
        Assert.Equal(Errno.ENOSPC, t.Fs.Write(b, 0, big, Credentials.Root, out _));
        Assert.Equal(free, t.Fs.StatFs().FreeBlocks);
        Assert.Equal(data, t.ReadAll(a));
        Assert.Equal(data, t.ReadAll(b));
        Assert.Equal(data.Length, SharedBytes(t, b));
        t.Remount();
        Assert.Equal(data, t.ReadAll(b));
        Assert.Equal(data.Length, SharedBytes(t, a));
    }

    [Fact]
    public void AnUnalignedTailAtTheSourcesEndIsCopiedSoNoEndOfFileBlockIsShared()
    {
        using var t = new EngineFixture();
        ulong a = t.CreateFile(Root, "a");
        var data = Pattern(10 * Bs + 77, 14);
        t.Write(a, 0, data);
        ulong b = t.CreateFile(Root, "b");
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, b, 0, data.Length, Credentials.Root, 0, out long n));
        Assert.Equal(data.Length, n);
        Assert.Equal(data, t.ReadAll(b));
        Assert.Equal(10 * Bs, SharedBytes(t, b));
        // Grow both: the bytes past each old end must read as zeros, and neither sees the other.
        t.Write(a, 12 * Bs, N("A"));
        t.Write(b, 12 * Bs, N("B"));
        Assert.Equal(data, t.ReadAll(a)[..data.Length]);
        Assert.True(t.ReadAll(b).AsSpan(data.Length, 12 * Bs - data.Length).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void UnwrittenSourceBlocksBecomeHolesAndHolesStayHoles()
    {
        using var t = new EngineFixture();
        ulong a = t.CreateFile(Root, "a");
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(a, FallocateMode.Default, 0, 8 * Bs, Credentials.Root));
        t.Write(a, 16 * Bs, Pattern(Bs, 1));
        ulong b = t.CreateFile(Root, "b");
        t.Write(b, 0, Pattern(20 * Bs, 2)); // old blocks in the range are dropped
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, b, 0, 17 * Bs, Credentials.Root, 0, out _));
        Assert.Equal(t.ReadAll(a), t.ReadAll(b)[..(17 * Bs)]);
        var map = Map(t, b);
        Assert.Equal(MapState.Hole, map[0].State);
        Assert.Equal(16 * Bs, map[0].Length);
        Assert.Equal(MapState.Shared, map[1].State);
        t.Remount();
    }

    [Fact]
    public void BadClonesAnswerAsLinuxAndChangeNothing()
    {
        using var t = new EngineFixture();
        var (a, b, data) = TwoSharing(t, 16 * Bs);
        ulong d = t.MakeDir(Root, "d");
        ulong c = t.CreateFile(Root, "c");
        t.Write(c, 0, Pattern(4 * Bs, 3));
        var cBefore = t.ReadAll(c);
        Assert.Equal(Errno.EINVAL, t.Fs.CloneRange(a, 100, c, 0, Bs, Credentials.Root, 0, out _));     // unaligned source
        Assert.Equal(Errno.EINVAL, t.Fs.CloneRange(a, 0, c, 100, Bs, Credentials.Root, 0, out _));     // unaligned destination
        Assert.Equal(Errno.EINVAL, t.Fs.CloneRange(a, 0, c, 0, Bs + 1, Credentials.Root, 0, out _));   // unaligned length inside the source
        Assert.Equal(Errno.EINVAL, t.Fs.CloneRange(a, 0, a, 2 * Bs, 4 * Bs, Credentials.Root, 0, out _)); // overlapping in one file
        Assert.Equal(Errno.EISDIR, t.Fs.CloneRange(a, 0, d, 0, Bs, Credentials.Root, 0, out _));
        Assert.Equal(Errno.EISDIR, t.Fs.CloneRange(d, 0, c, 0, Bs, Credentials.Root, 0, out _));
        foreach (var flag in new[] { InodeFlags.Immutable, InodeFlags.Append })
        {
            Assert.Equal(Errno.Ok, t.Fs.SetFlags(c, flag, 0, Credentials.Root, out _));
            Assert.Equal(Errno.EPERM, t.Fs.CloneRange(a, 0, c, 0, Bs, Credentials.Root, 0, out _));
            Assert.Equal(Errno.Ok, t.Fs.SetFlags(c, 0, flag, Credentials.Root, out _));
        }
        Assert.Equal(cBefore, t.ReadAll(c));
        Assert.Equal(data, t.ReadAll(a));
        Assert.Equal(data, t.ReadAll(b));
    }

    [Fact]
    public void DaxImmutableNeverShares()
    {
        using var t = new EngineFixture(rootFlags: InodeFlags.Dax);
        ulong a = t.CreateFile(Root, "a");
        t.Write(a, 0, Pattern(8 * Bs, 1));
        ulong b = t.CreateFile(Root, "b");
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, b, 0, 0, Credentials.Root, 0, out _));
        // Rule 2: a file with shared blocks cannot become DAX_IMMUTABLE.
        Assert.Equal(Errno.EINVAL, t.Fs.SetFlags(a, InodeFlags.DaxImmutable, 0, Credentials.Root, out _));
        Assert.Contains("shared", t.Fs.WhyNotFullyWritten(a));
        // Once it has its own copy it can; then it neither shares from nor is shared onto (rule 3).
        t.Write(a, 0, Pattern(8 * Bs, 2));
        Assert.Equal(Errno.Ok, t.Fs.SetFlags(a, InodeFlags.DaxImmutable, 0, Credentials.Root, out _));
        ulong c = t.CreateFile(Root, "c");
        Assert.Equal(Errno.EPERM, t.Fs.CloneRange(a, 0, c, 0, 0, Credentials.Root, 0, out _));
        Assert.Equal(Errno.EPERM, t.Fs.CloneRange(b, 0, a, 0, 0, Credentials.Root, 0, out _));
        Assert.Equal(0, SharedBytes(t, a));
    }

    [Fact]
    public void AVersion1ImageMountsAndBecomesVersion2AtItsFirstShare()
    {
        using var media = new MemoryMedia(64L << 20);
        Mkfs.Format(media, new MkfsOptions());
        var sb = ImageReader.ReadSuperblock(media, "v1").Superblock with { Version = 1 };
        ImageReader.WriteSuperblock(media, sb, SuperblockCopy.Secondary);
        ImageReader.WriteSuperblock(media, sb, SuperblockCopy.Primary);
        using (var fs = FileSystem.Mount(media))
        {
            Assert.Equal(1u, fs.Superblock.Version);
            Assert.Equal(Errno.Ok, fs.Create(Root, N("a"), RegularMode, Credentials.Root, out var a));
            Assert.Equal(Errno.Ok, fs.Write(a.Ino, 0, Pattern(4 * Bs, 1), Credentials.Root, out _));
            Assert.Equal(1u, fs.Superblock.Version); // plain work leaves it at 1
            Assert.Equal(Errno.Ok, fs.Create(Root, N("b"), RegularMode, Credentials.Root, out var b));
            Assert.Equal(Errno.Ok, fs.CloneRange(a.Ino, 0, b.Ino, 0, 0, Credentials.Root, 0, out _));
            Assert.Equal(2u, fs.Superblock.Version);
        }
        var reread = ImageReader.ReadSuperblock(media, "v2");
        Assert.Equal(2u, reread.Superblock.Version);
        Assert.Null(reread.SecondaryProblem); // both copies say 2
    }

    [Fact]
    public void PrepareWriteGivesASharedRangeItsOwnBlocks()
    {
        using var t = new EngineFixture(rootFlags: InodeFlags.Dax);
        var (a, b, data) = TwoSharing(t, 32 * Bs);
        ulong handle = 77;
        t.Fs.Opened(a);
        Assert.Equal(Errno.Ok, t.Fs.Leases.Acquire(a, handle, Environment.ProcessId, Leases.LeaseMode.Write, Leases.FileRange.WholeFile, out _));
        Assert.Equal(32 * Bs, SharedBytes(t, a));
        Assert.Equal(Errno.Ok, t.Fs.PrepareWrite(a, handle, 4 * Bs, 8 * Bs, PrepareWriteFlags.None, Credentials.Root));
        Assert.Equal(24 * Bs, SharedBytes(t, a));
        Assert.Equal(24 * Bs, SharedBytes(t, b));
        // The prepared blocks hold the file's bytes, and are the file's own: a store there reaches a only.
        var mapA = Map(t, a).Single(e => e.FileOffset <= 4 * Bs && 4 * Bs < e.FileOffset + e.Length);
        Assert.Equal(MapState.Written, mapA.State);
        Assert.Equal(data, t.ReadAll(a));
        t.Media.Write(mapA.PhysicalOffset + (4 * Bs - mapA.FileOffset), N("direct"));
        Assert.Equal(data, t.ReadAll(b));
        t.Remount();
    }

    [Fact]
    public void AManyWindowCloneThatRunsOutOfSlotsKeepsAndReportsTheWindowsItCommitted()
    {
        using var t = new EngineFixture(size: 32L << 20, inodes: 64);
        ulong a = t.CreateFile(Root, "a");
        for (int i = 0; i < 300; i++) t.Write(a, 2L * i * Bs, Pattern(Bs, i)); // 300 one-block extents (of 640 slots)
        ulong b = t.CreateFile(Root, "b");
        // Leave room for one window's extent records (128 pieces), not all three.
        ulong f = t.CreateFile(Root, "filler");
        for (int i = 0; t.Fs.ExtentSlots.Free > 200; i++)
            if (t.Fs.Write(f, 2L * i * Bs, Pattern(10, 1), Credentials.Root, out _) != Errno.Ok) break;
        var errno = t.Fs.CloneRange(a, 0, b, 0, 0, Credentials.Root, 0, out long cloned);
        Assert.Equal(Errno.ENOSPC, errno);
        Assert.True(cloned % Bs == 0 && cloned < 599L * Bs, $"cloned {cloned}");
        Assert.True(cloned > 0, $"some windows committed (extent slots free {t.Fs.ExtentSlots.Free}, rmap {t.Fs.RmapSlots.Free}, blocks {t.Fs.StatFs().FreeBlocks})");
        Assert.Equal(t.ReadAll(a)[..(int)cloned], t.ReadAll(b)[..(int)cloned]);
        t.Fs.GetAttr(b, out var attr);
        Assert.Equal(cloned, attr.Size); // each committed window grew the file to its end, no further
        t.Remount(); // counts exact
    }

    /// <summary>
    /// Four files map the same blocks while three threads change their references at once: two
    /// copy-on-write writers and a clone-then-truncate loop. Counts must stay exact (the remount
    /// checks them), no file sees another's writes, and every block comes back at the end.
    /// </summary>
    [Fact]
    public void ConcurrentCopyOnWriteClonesAndFreesKeepCountsExact()
    {
        using var t = new EngineFixture(size: 128L << 20);
        const int Blocks = 256;
        long empty = t.Fs.StatFs().FreeBlocks;
        ulong s = t.CreateFile(Root, "s");
        var original = Pattern(Blocks * Bs, 1);
        t.Write(s, 0, original);
        ulong a = t.CreateFile(Root, "a"), b = t.CreateFile(Root, "b"), d = t.CreateFile(Root, "d");
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(s, 0, a, 0, 0, Credentials.Root, 0, out _));
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(s, 0, b, 0, 0, Credentials.Root, 0, out _));
        var models = new[] { (byte[])original.Clone(), (byte[])original.Clone() };
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var writers = new[] { a, b }.Select((ino, k) => new Thread(() =>
        {
            var rng = new Random(10 + k);
            for (int i = 0; i < 400; i++)
            {
                long at = rng.Next(Blocks) * (long)Bs + rng.Next(Bs - 64);
                var p = Pattern(1 + rng.Next(3 * Bs), 100 * k + i);
                if (at + p.Length > Blocks * Bs) p = p[..(int)(Blocks * Bs - at)];
                var e = t.Fs.Write(ino, at, p, Credentials.Root, out _);
                if (e != Errno.Ok) { failures.Enqueue($"write {ino}: {e}"); return; }
                p.CopyTo(models[k], at);
            }
        })).ToList();
        var cloner = new Thread(() =>
        {
            var rng = new Random(3);
            for (int i = 0; i < 150; i++)
            {
                long off = rng.Next(Blocks - 16) * (long)Bs;
                var e = t.Fs.CloneRange(s, off, d, 0, 16 * Bs, Credentials.Root, 0, out _);
                if (e != Errno.Ok) { failures.Enqueue($"clone: {e}"); return; }
                e = t.Fs.SetAttr(d, new SetAttrRequest { Fields = SetAttrFields.Size, Size = i % 3 == 0 ? 5 * Bs + 7 : 0 }, Credentials.Root, out _);
                if (e != Errno.Ok) { failures.Enqueue($"truncate: {e}"); return; }
            }
        });
        writers.ForEach(w => w.Start());
        cloner.Start();
        writers.ForEach(w => w.Join());
        cloner.Join();
        Assert.Empty(failures);
        Assert.Equal(models[0], t.ReadAll(a));
        Assert.Equal(models[1], t.ReadAll(b));
        Assert.Equal(original, t.ReadAll(s));
        t.Remount();
        Assert.Equal(models[0], t.ReadAll(a));
        Assert.Equal(models[1], t.ReadAll(b));
        Assert.Equal(original, t.ReadAll(s));
        foreach (var name in new[] { "s", "a", "b", "d" }) Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N(name)));
        Assert.Equal(empty, t.Fs.StatFs().FreeBlocks);
        Assert.Equal(0, t.Fs.Sharing.RecordCount);
        t.Remount();
    }

    [Fact]
    public void AWriteIntoAnUnwrittenMappingOfSharedBlocksTakesFreshBlocks()
    {
        // The engine never makes one; an image may hold one (damage, another build): the other owner must not see zeros.
        using var t = new EngineFixture();
        var (a, b, data) = TwoSharing(t, 8 * Bs);
        t.Fs.Dispose();
        var g = t.Fs.Geometry;
        for (long slot = 0; slot < g.ExtentCount; slot++)
        {
            var v = DiskExtent.VerifyRead(t.Media.Read(g.ExtentOffset(slot), DiskExtent.Size), slot, out var e);
            if (!v.IsOk || e.Ino != b) continue;
            var buf = new byte[DiskExtent.Size];
            DiskExtent.Seal(e with { State = PmemFs.Format.ExtentState.Unwritten }, buf);
            t.Media.Write(g.ExtentOffset(slot), buf);
        }
        t.Remount();
        Assert.True(t.ReadAll(b).AsSpan().IndexOfAnyExcept((byte)0) < 0); // unwritten reads as zeros
        t.Write(b, 3 * Bs + 10, N("hello"));
        Assert.Equal(data, t.ReadAll(a));
        t.Remount();
        Assert.Equal(data, t.ReadAll(a));
        var got = t.ReadAll(b);
        Assert.Equal(N("hello"), got[(3 * Bs + 10)..(3 * Bs + 15)]);
        Assert.Equal(5, got.Count(x => x != 0));
    }
}
