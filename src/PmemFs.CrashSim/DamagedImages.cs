using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>An image for <c>fsck --repair</c> to work on, and how it was made.</summary>
public sealed record DamagedImage(int Index, byte[] Bytes, string Description);

/// <summary>
/// Images for repair to fix, made from a workload's recording: a crash image at a point the
/// seed picks (so it may carry committed transactions that repair replays first), then
/// <c>Index % 4</c> random byte flips in metadata words that hold something (the table records,
/// the journal, the bitmap, now and then a superblock copy), half of them resealed so they reach
/// the structural checks instead of failing their checksum — the damage fsck's fuzz tests make.
/// </summary>
public static class DamagedImages
{
    public static DamagedImage Make(Recording recording, List<CrashPoint> points, int seed, int index)
    {
        ArgumentNullException.ThrowIfNull(recording);
        ArgumentNullException.ThrowIfNull(points);
        var rng = new Random(unchecked(seed * 1_000_003 + index * 7919 + 17));
        var point = points[rng.Next(points.Count)];
        var sim = new PmemSimulator(recording);
        sim.AdvanceTo(point.Position);
        var lines = sim.PendingLines();
        long state = 2 + rng.Next(1_000_000);
        var choice = CrashStates.Choose(lines, enumerate: false, state, seed, point.Index);
        var image = sim.Durable.ToArray();
        for (int i = 0; i < lines.Count; i++)
            if (choice[i] != 0) lines[i].Versions[choice[i] - 1].CopyTo(image, lines[i].Line * PmemSimulator.LineSize);

        Geometry g;
        using (var media = MemoryMedia.FromBytes(image))
            g = ImageReader.ReadSuperblock(media, "damaged image").Superblock.Geometry;
        int flips = index % 4;
        bool reseal = rng.Next(2) == 0;
        var used = UsedWords(image, FormatConstants.BlockSize, Geometry.BlockOffset(g.DataStart));
        var where = new List<long>();
        for (int i = 0; i < flips && used.Count > 0; i++)
        {
            long off = rng.Next(10) switch
            {
                0 => rng.Next(DiskSuperblock.Size),
                1 => Geometry.BlockOffset(g.SecondarySuperblock) + rng.Next(DiskSuperblock.Size),
                _ => used[rng.Next(used.Count)] + rng.Next(8),
            };
            image[off] ^= (byte)rng.Next(1, 256);
            if (reseal) Reseal(image, g, off);
            where.Add(off);
        }
        string damage = flips == 0 ? "no damage" : $"flips at {string.Join(", ", where)}{(reseal ? ", resealed" : "")}";
        return new DamagedImage(index, image, $"image {index}: crash point {point.Index} (event {point.Position}) state {state}, {damage}");
    }

    /// <summary>Offsets of the 8-byte words in [<paramref name="from"/>, <paramref name="to"/>) that are not zero.</summary>
    private static List<long> UsedWords(byte[] image, long from, long to)
    {
        var used = new List<long>();
        for (long off = from; off + 8 <= to; off += 8)
            if (BitConverter.ToUInt64(image, (int)off) != 0) used.Add(off);
        return used;
    }

    /// <summary>Recomputes the checksum of the table record holding <paramref name="off"/>, if it is in a table.</summary>
    private static void Reseal(byte[] image, Geometry g, long off)
    {
        if (RecordTables.RecordHolding(g, off) is { } rec) Checksum.SealRecord(image.AsSpan((int)rec.Offset, rec.Size));
    }
}
