using System.Text.Json;
using PmemFs.Cli.Commands;
using PmemFs.Cli.Output;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Cli.Tests;

/// <summary>
/// <c>pmemfs rmap</c> on an image with shared extents (format version 2), offline: the image is
/// built in memory and the sharing written straight into the tables (file "b" reflinked onto
/// "a"'s blocks, a reference-count record of 2), then read as the command reads an image.
/// </summary>
public sealed class RmapSharedTests : IDisposable
{
    private const int Bs = FormatConstants.BlockSize;
    private readonly MemoryMedia _media = new(32L << 20);
    private readonly Geometry _g;
    private readonly ulong _a, _b, _c;
    private readonly ExtentRecord _shared;

    public RmapSharedTests()
    {
        Mkfs.Format(_media, new MkfsOptions());
        using (var fs = FileSystem.Mount(_media))
        {
            _a = Create(fs, "a", 4 * Bs, 1);
            _b = Create(fs, "b", 4 * Bs, 2);
            _c = Create(fs, "c", Bs, 3);
        }
        _g = ImageReader.ReadSuperblock(_media, "t").Superblock.Geometry;
        _shared = Extent(_a).Rec;
        var b = Extent(_b);
        DiskExtent.Seal(b.Rec with { PhysBlock = _shared.PhysBlock }, _media.RawBytes(_g.ExtentOffset(b.Slot), DiskExtent.Size));
        for (long slot = 0; slot < _g.RmapCount; slot++)
        {
            var span = _media.RawBytes(_g.RmapOffset(slot), DiskRmap.Size);
            if (DiskRmap.VerifyRead(span, slot, out var r).IsOk && r.Kind == RmapOwnerKind.InodeData && r.Owner == _b)
                DiskRmap.Seal(r with { PhysBlock = _shared.PhysBlock }, span);
        }
        long free = Enumerable.Range(0, (int)_g.RmapCount).Select(i => (long)i).Last(s => _media.RawBytes(_g.RmapOffset(s), DiskRmap.Size).IndexOfAnyExcept((byte)0) < 0);
        DiskRefcount.Seal(new RefcountRecord(_shared.PhysBlock, _shared.BlockCount, 2), _media.RawBytes(_g.RmapOffset(free), DiskRefcount.Size));
    }

    public void Dispose() => _media.Dispose();

    private static ulong Create(FileSystem fs, string name, int length, int seed)
    {
        Assert.Equal(Errno.Ok, fs.Create(FormatConstants.RootIno, System.Text.Encoding.UTF8.GetBytes(name), 0x81A4, Credentials.Root, out var a));
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        Assert.Equal(Errno.Ok, fs.Write(a.Ino, 0, data, Credentials.Root, out _));
        return a.Ino;
    }

    private (long Slot, ExtentRecord Rec) Extent(ulong ino)
    {
        for (long slot = 0; slot < _g.ExtentCount; slot++)
            if (DiskExtent.VerifyRead(_media.Read(_g.ExtentOffset(slot), DiskExtent.Size), slot, out var e).IsOk && e.Ino == ino) return (slot, e);
        throw new InvalidOperationException($"no extent of inode {ino}");
    }

    [Fact]
    public void OwnersOfSharedBlocksCarryTheCountAndTheRecordIsListed()
    {
        var table = RmapCommand.Read(_media, _g);
        var data = table.Owners.Where(o => o.Kind == "data").ToList();
        Assert.Equal(3, data.Count);
        var onShared = data.Where(o => o.Physical == _shared.PhysBlock * Bs).OrderBy(o => o.Ino).ToList();
        Assert.Equal([_a, _b], onShared.Select(o => o.Ino));
        Assert.All(onShared, o => Assert.Equal(2ul, o.Refs));
        Assert.Equal(["/a", "/b"], onShared.Select(o => o.Path));
        Assert.Null(data.Single(o => o.Ino == _c).Refs);
        var rc = Assert.Single(table.Refcounts);
        Assert.Equal(new RmapCommand.Shared(_shared.PhysBlock * Bs, _shared.BlockCount * Bs, 2), rc);
        // No RC slot turned into a row of its own (nor was refused as a bad owner record).
        Assert.DoesNotContain(table.Owners, o => o.Kind.Contains("43", StringComparison.Ordinal));
    }

    [Fact]
    public void TextShowsASharedColumnAndASummary()
    {
        var table = RmapCommand.Read(_media, _g);
        var text = new StringWriter();
        RmapCommand.WriteText(text, table.Owners, table.Refcounts);
        var lines = text.ToString().Split('\n');
        Assert.Contains("SHARED", lines[0], StringComparison.Ordinal);
        var a = lines.Single(l => l.TrimEnd().EndsWith(" /a", StringComparison.Ordinal));
        Assert.Contains(" x2 ", a, StringComparison.Ordinal);
        var c = lines.Single(l => l.TrimEnd().EndsWith(" /c", StringComparison.Ordinal));
        Assert.DoesNotContain(" x", c, StringComparison.Ordinal);
        long p = _shared.PhysBlock * Bs, n = _shared.BlockCount * Bs;
        Assert.Contains($"shared: {n} bytes in 1 range (reference-count records):", text.ToString(), StringComparison.Ordinal);
        Assert.Contains($"  {p}-{p + n - 1}  {n} bytes mapped by 2 extents", text.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void JsonHasRefsOnSharedRowsOnlyAndASharedArray()
    {
        var table = RmapCommand.Read(_media, _g);
        var text = new StringWriter();
        Json.Write(text, w => RmapCommand.WriteJson(w, "img", table.Owners, table.Refcounts));
        using var doc = JsonDocument.Parse(text.ToString());
        var owners = doc.RootElement.GetProperty("owners").EnumerateArray().ToList();
        foreach (var o in owners)
        {
            bool shared = o.GetProperty("kind").GetString() == "data" && o.GetProperty("physical").GetInt64() == _shared.PhysBlock * Bs;
            Assert.Equal(shared, o.TryGetProperty("refs", out var refs));
            if (shared) Assert.Equal(2, refs.GetInt32());
        }
        var rc = Assert.Single(doc.RootElement.GetProperty("shared").EnumerateArray());
        Assert.Equal(_shared.PhysBlock * Bs, rc.GetProperty("physical").GetInt64());
        Assert.Equal(2, rc.GetProperty("refs").GetInt32());
    }
}
