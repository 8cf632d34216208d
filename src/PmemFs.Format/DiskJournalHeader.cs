using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>Where replay must start: the oldest transaction that may not be applied yet.</summary>
public readonly record struct JournalHeader(ulong Generation, ulong TailSeq, long TailOffset);

/// <summary>
/// The journal header block holds two 64-byte slots; each checkpoint writes the slot
/// <c>generation % 2</c>, so a torn header write leaves the other slot valid.
/// </summary>
/// <remarks>
/// <code>
/// 0  u32 crc32c of [4, 64)   8  u64 generation (which write this is)
/// 4  u16 magic "JH"          16 u64 tail sequence number
/// 6  u16 version (1)         24 i64 tail offset in the log (bytes, 64-aligned)   32..63 zero
/// </code>
/// </remarks>
public static class DiskJournalHeader
{
    public const int Size = 64;
    public const ushort Magic = 0x484A;

    public static long SlotOffset(Geometry g, ulong generation) => g.JournalHeaderOffset + (long)(generation % 2) * Size;

    public static void Seal(in JournalHeader h, Span<byte> dst)
    {
        dst = dst[..Size];
        dst.Clear();
        Put(dst, 4, Magic);
        Put(dst, 6, (ushort)1);
        Put(dst, 8, h.Generation);
        Put(dst, 16, h.TailSeq);
        Put(dst, 24, h.TailOffset);
        Checksum.SealRecord(dst);
    }

    public static VerifyResult VerifyRead(ReadOnlySpan<byte> src, long logBytes, out JournalHeader h)
    {
        h = default;
        src = src[..Size];
        var pre = Precheck(src, Magic, "journal header");
        if (!pre.IsOk) return pre;
        h = new JournalHeader(U64(src, 8), U64(src, 16), I64(src, 24));
        if (h.TailOffset < 0 || h.TailOffset >= logBytes || h.TailOffset % FormatConstants.CacheLine != 0)
            return VerifyResult.Corruption($"journal header: tail offset {h.TailOffset} outside the log");
        if (h.TailSeq == 0) return VerifyResult.Corruption("journal header: sequence 0");
        return VerifyResult.Good;
    }

    /// <summary>The newer of the two valid slots; null when neither is valid.</summary>
    public static JournalHeader? ReadNewest(ReadOnlySpan<byte> headerBlock, long logBytes, out string? problem)
    {
        problem = null;
        JournalHeader? best = null;
        for (int i = 0; i < 2; i++)
        {
            var v = VerifyRead(headerBlock.Slice(i * Size, Size), logBytes, out var h);
            if (v.IsOk && (h.Generation % 2) == (ulong)i && (best is null || h.Generation > best.Value.Generation)) best = h;
            else if (!v.IsOk && v.Verdict != Verdict.Empty) problem = $"slot {i}: {v.Problem}";
        }
        return best;
    }
}
