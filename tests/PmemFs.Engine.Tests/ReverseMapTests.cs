using PmemFs.Format;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// <see cref="FileSystem.ReverseMap"/>: the owners of a physical range from the in-memory maps
/// equal the reverse-map records on the media (what `pmemfs rmap IMAGE` reads), shared blocks
/// have a row per owner with the count, and paging with any page size is exact, also when
/// several rows start at one block.
/// </summary>
public class ReverseMapTests
{
    private const int Bs = FormatConstants.BlockSize;

    /// <summary>Every row of the range, a page of <paramref name="page"/> rows at a time.</summary>
    private static List<ReverseMapOwner> All(FileSystem fs, int page, long start = 0, long length = long.MaxValue)
    {
        var rows = new List<ReverseMapOwner>();
        var into = new ReverseMapOwner[page];
        ReverseMapCursor after = default;
        for (int calls = 0; ; calls++)
        {
            Assert.True(calls < 100_000, "paging does not end");
            Assert.Equal(Errno.Ok, fs.ReverseMap(start, length, after, into, out int n, out bool more));
            rows.AddRange(into[..n]);
            if (!more) return rows;
            Assert.Equal(page, n);
            after = into[n - 1].Key;
        }
    }

    /// <summary>The owner records of the rmap table, as (physical, length, kind, inode, file offset), sorted.</summary>
    private static List<(long, long, int, ulong, long)> MediaRecords(EngineFixture t)
    {
        var g = t.Fs.Geometry;
        var rows = new List<(long, long, int, ulong, long)>();
        for (long slot = 0; slot < g.RmapCount; slot++)
        {
            var bytes = t.Media.Read(g.RmapOffset(slot), DiskRmap.Size);
            if (DiskRefcount.IsRefcountSlot(bytes) || !DiskRmap.VerifyRead(bytes, slot, out var r).IsOk) continue;
            rows.Add((r.PhysBlock * Bs, r.BlockCount * Bs, (int)r.Kind, r.IsMetadata ? 0 : r.Owner, r.IsMetadata ? 0 : r.FileBlock * Bs));
        }
        rows.Sort();
        return rows;
    }

    private static EngineFixture Populated(out ulong a, out ulong b, out ulong c)
    {
        var t = new EngineFixture();
        ulong dir = t.MakeDir(Root, "dir");
        a = t.CreateFile(dir, "a");
        t.Write(a, 0, Pattern(40 * Bs + 100, 1));
        b = t.CreateFile(Root, "b");
        t.Write(b, 8 * Bs, Pattern(3 * Bs, 2));
        Assert.Equal(Errno.Ok, t.Fs.SetXattr(b, N("user.note"), Pattern(300, 3), XattrSetFlags.None));
        c = t.CreateFile(Root, "c");
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, c, 0, 16 * Bs, Credentials.Root, 0, out _));
        // c shares 4 of its own blocks with itself too: three owners of a's first blocks.
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(c, 0, c, 32 * Bs, 4 * Bs, Credentials.Root, 0, out _));
        return t;
    }

    [Fact]
    public void TheRowsAreTheMediasRmapRecordsPlusCountsInPhysicalOrder()
    {
        using var t = Populated(out ulong a, out ulong b, out ulong c);
        t.Fs.Sync();
        var rows = All(t.Fs, 1000);
        Assert.Equal(rows.OrderBy(r => r.Key).ToList(), rows);
        var owners = rows.Where(r => r.Kind != ReverseMapKind.Refcount)
            .Select(r => (r.Physical, r.Length, (int)r.Kind, r.Ino, r.FileOffset)).Order().ToList();
        Assert.Equal(MediaRecords(t), owners);

        // Metadata: every area of the geometry, the superblock at 0.
        Assert.Equal(t.Fs.Geometry.MetadataAreas().Count(), rows.Count(r => r.Kind >= ReverseMapKind.Superblock && r.Kind != ReverseMapKind.Refcount));
        Assert.Equal(ReverseMapKind.Superblock, rows[0].Kind);
        Assert.Single(rows, r => r.Kind == ReverseMapKind.Xattr && r.Ino == b);

        // a's first blocks: owned by a, by c at 0 and by c at 32 blocks; counted 3 (the first 4 blocks).
        long first = rows.Single(r => r.Ino == a && r.FileOffset == 0 && r.Kind == ReverseMapKind.Data).Physical;
        var atFirst = rows.Where(r => r.Physical == first).ToList();
        Assert.Equal([(ReverseMapKind.Data, a, 0L), (ReverseMapKind.Data, c, 0L), (ReverseMapKind.Data, c, 32L * Bs), (ReverseMapKind.Refcount, 0UL, 0L)],
            atFirst.Select(r => (r.Kind, r.Ino, r.FileOffset)));
        Assert.All(atFirst.Where(r => r.Kind == ReverseMapKind.Data), r => Assert.Equal(3UL, r.Refs));
        Assert.Equal(3UL, atFirst[^1].Refs);
        Assert.Equal(4L * Bs, atFirst[^1].Length);
        Assert.All(rows.Where(r => r.Ino == b), r => Assert.Equal(0UL, r.Refs));
        // The counts are the engine's records, in order.
        Assert.Equal(t.Fs.SharingUsage.Records, rows.Count(r => r.Kind == ReverseMapKind.Refcount));

        // The same after a remount (from the media's tables).
        t.Remount();
        Assert.Equal(rows, All(t.Fs, 1000));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void PagingIsExactWhenSeveralRowsStartAtOneBlock(int page)
    {
        using var t = Populated(out _, out _, out _);
        var whole = All(t.Fs, 1000);
        Assert.Equal(whole, All(t.Fs, page));
    }

    [Fact]
    public void ARangeKeepsTheRowsThatOverlapIt()
    {
        using var t = Populated(out ulong a, out ulong b, out _);
        var whole = All(t.Fs, 1000);
        var bData = whole.Single(r => r.Ino == b && r.Kind == ReverseMapKind.Data);
        var one = All(t.Fs, 1000, bData.Physical + Bs, 1);
        Assert.Equal([bData], one);
        long end = whole.Where(r => r.Kind != ReverseMapKind.Superblock).Max(r => r.Physical + r.Length);
        var span = All(t.Fs, 5, bData.Physical - 1, 2 * Bs);
        Assert.Equal(whole.Where(r => r.Physical < bData.Physical - 1 + 2 * Bs && bData.Physical - 1 < r.Physical + r.Length).ToList(), span);
        // Free space between the data and the secondary superblock has no owner.
        Assert.Empty(All(t.Fs, 10, end, Bs));
        Assert.Equal(whole.Where(r => r.Physical + r.Length > 1).ToList(), All(t.Fs, 4, 1, long.MaxValue));
    }

    [Fact]
    public void BadArgumentsAreEinval()
    {
        using var t = new EngineFixture();
        var into = new ReverseMapOwner[4];
        Assert.Equal(Errno.EINVAL, t.Fs.ReverseMap(-1, 10, default, into, out _, out _));
        Assert.Equal(Errno.EINVAL, t.Fs.ReverseMap(0, 0, default, into, out _, out _));
        Assert.Equal(Errno.EINVAL, t.Fs.ReverseMap(0, -5, default, into, out _, out _));
        Assert.Equal(Errno.EINVAL, t.Fs.ReverseMap(0, 10, default, [], out _, out _));
        Assert.Equal(Errno.Ok, t.Fs.ReverseMap(long.MaxValue - 1, long.MaxValue, default, into, out int n, out bool more));
        Assert.Equal(0, n);
        Assert.False(more);
    }

    [Fact]
    public void UnwrittenExtentsAreMarkedAndNeverCounted()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.Default, 0, 8 * Bs, Credentials.Root));
        var data = All(t.Fs, 100).Where(r => r.Kind == ReverseMapKind.Data).ToList();
        var row = Assert.Single(data);
        Assert.True(row.Unwritten);
        Assert.Equal(0UL, row.Refs);
        Assert.Equal(8L * Bs, row.Length);
    }

    [Fact]
    public async Task ListingWhileFilesChangeGivesRealExtentsAndEndsWithTheRecords()
    {
        using var t = Populated(out ulong a, out ulong b, out ulong c);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        var writer = Task.Run(() =>
        {
            var rng = new Random(9);
            var data = Pattern(3 * Bs, 4);
            while (!stop.IsCancellationRequested)
            {
                long at = rng.Next(0, 40) * (long)Bs;
                Assert.Equal(Errno.Ok, t.Fs.Write(c, at, data, Credentials.Root, out _)); // copy on write of shared blocks
                Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, c, 48L * Bs, 8 * Bs, Credentials.Root, 0, out _));
            }
        });
        long total = t.Fs.Geometry.RegionSize;
        int listings = 0;
        while (!writer.IsCompleted)
        {
            var rows = All(t.Fs, 16);
            listings++;
            Assert.All(rows, r => Assert.True(r.Length > 0 && r.Physical >= 0 && r.Physical + r.Length <= total, r.ToString()));
            Assert.All(rows.Where(r => r.Kind == ReverseMapKind.Data), r => Assert.Contains(r.Ino, new[] { a, b, c }));
        }
        await writer;
        Assert.True(listings > 0);
        t.Fs.Sync();
        Assert.Equal(MediaRecords(t), All(t.Fs, 10).Where(r => r.Kind != ReverseMapKind.Refcount)
            .Select(r => (r.Physical, r.Length, (int)r.Kind, r.Ino, r.FileOffset)).Order().ToList());
    }
}
