using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Check.Tests;

/// <summary>
/// The metadata of an image (every block before the data area, and the secondary superblock)
/// saved once, so that the fuzz tests can flip bytes in it and put it back between runs.
/// </summary>
internal sealed class MetadataFlips
{
    private readonly MemoryMedia _media;
    private readonly Geometry _g;
    private readonly byte[] _meta;
    private readonly byte[] _last;

    public MetadataFlips(MemoryMedia media, Geometry g)
    {
        _media = media;
        _g = g;
        MetaBytes = Geometry.BlockOffset(g.DataStart);
        Secondary = Geometry.BlockOffset(g.SecondarySuperblock);
        _meta = media.Read(0, checked((int)MetaBytes)).ToArray();
        _last = media.Read(Secondary, FormatConstants.BlockSize).ToArray();
    }

    /// <summary>Bytes before the data area.</summary>
    public long MetaBytes { get; }

    /// <summary>Where the secondary superblock starts.</summary>
    public long Secondary { get; }

    /// <summary>The offsets, from <paramref name="from"/> on, of the 8-byte words of the metadata that hold something (where flips matter most).</summary>
    public List<long> UsedWords(long from = 0)
    {
        var used = new List<long>();
        for (long off = from; off < MetaBytes; off += 8)
            if (BitConverter.ToUInt64(_meta, (int)off) != 0) used.Add(off);
        return used;
    }

    /// <summary>Puts the saved metadata back.</summary>
    public void Restore()
    {
        _meta.CopyTo(_media.RawBytes(0, _meta.Length));
        _last.CopyTo(_media.RawBytes(Secondary, _last.Length));
    }

    /// <summary>
    /// One run's damage: 1 to 3 bytes, at offsets <paramref name="pick"/> draws from
    /// <paramref name="rng"/>, each flipped with a random nonzero mask; half the runs reseal the
    /// table records they hit so the flips reach the structural checks. Returns a description of
    /// the run for failure messages, and the offsets flipped.
    /// </summary>
    public (string What, List<long> Where) FlipRandomly(Random rng, int run, Func<long> pick)
    {
        int flips = rng.Next(1, 4);
        bool reseal = rng.Next(2) == 0;
        var where = new List<long>();
        for (int i = 0; i < flips; i++)
        {
            long off = pick();
            _media.RawBytes(off, 1)[0] ^= (byte)rng.Next(1, 256);
            if (reseal) Reseal(off);
            where.Add(off);
        }
        return ($"run {run} (flips at {string.Join(", ", where)}, reseal {reseal})", where);
    }

    /// <summary>Recomputes the checksum of the table record holding <paramref name="off"/> (nothing when it is in no table).</summary>
    private void Reseal(long off)
    {
        if (RecordTables.RecordHolding(_g, off) is { } rec) Checksum.SealRecord(_media.RawBytes(rec.Offset, rec.Size));
    }
}
