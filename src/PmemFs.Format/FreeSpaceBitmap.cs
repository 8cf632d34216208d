using PmemFs.Media;

namespace PmemFs.Format;

/// <summary>
/// The on-media free-space index: one bit per block of the region, 1 = in use, bit
/// <c>b % 64</c> of the little-endian 64-bit word <c>b / 64</c>. Changed only through
/// atomic word operations so concurrent transactions on different bits of a word never lose
/// each other's update.
/// </summary>
public static class FreeSpaceBitmap
{
    public static long WordOffset(Geometry g, long block) => Geometry.BlockOffset(g.BitmapStart) + block / 64 * 8;

    public static bool IsSet(IMedia media, Geometry g, long block) =>
        (media.ReadUInt64(WordOffset(g, block)) & (1UL << (int)(block % 64))) != 0;

    public static void ApplyRange(IMedia media, Geometry g, long first, long count, bool set)
    {
        long end = first + count;
        long block = first;
        while (block < end)
        {
            int bit = (int)(block % 64);
            int n = (int)Math.Min(64 - bit, end - block);
            ulong mask = n == 64 ? ulong.MaxValue : ((1UL << n) - 1) << bit;
            long word = WordOffset(g, block);
            if (set) media.AtomicOr64(word, mask);
            else media.AtomicAnd64(word, ~mask);
            media.Flush(word, 8);
            block += n;
        }
    }

    /// <summary>Calls <paramref name="onRun"/> for every maximal run of blocks whose bit equals <paramref name="set"/>.</summary>
    public static void ForEachRun(IMedia media, Geometry g, bool set, Action<long, long> onRun)
    {
        long blocks = g.BlockCount;
        long runStart = -1;
        long bitmap = Geometry.BlockOffset(g.BitmapStart);
        for (long w = 0; w * 64 < blocks; w++)
        {
            ulong word = media.ReadUInt64(bitmap + w * 8);
            if (!set) word = ~word;
            long baseBlock = w * 64;
            if (word == ulong.MaxValue && runStart >= 0) continue;
            if (word == 0 && runStart < 0) continue;
            for (int bit = 0; bit < 64 && baseBlock + bit < blocks; bit++)
            {
                bool match = (word & (1UL << bit)) != 0;
                if (match && runStart < 0) runStart = baseBlock + bit;
                else if (!match && runStart >= 0)
                {
                    onRun(runStart, baseBlock + bit - runStart);
                    runStart = -1;
                }
            }
        }
        if (runStart >= 0) onRun(runStart, blocks - runStart);
    }
}
