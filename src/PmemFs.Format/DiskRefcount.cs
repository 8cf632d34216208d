using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>
/// On-media reference-count record (format version 2): how many data extents map a physical
/// range. It lives in a slot of the rmap table, told from an owner record by its magic, so the
/// table's size is shared between owners and counts and no geometry changes. Only ranges
/// mapped by two or more extents have a record; records never overlap.
/// </summary>
/// <remarks>
/// <code>
/// 0  u32 crc32c of [4, 48)   8  i64 physical block   24 u64 reference count (>= 2)
/// 4  u16 magic "RC"          16 i64 block count      32 u64 zero (reserved)
/// 6  u16 zero                                        40 u64 zero (reserved)
/// </code>
/// </remarks>
public static class DiskRefcount
{
    public const int Size = 48;
    public const ushort Magic = 0x4352;

    /// <summary>Largest count a record may hold (far beyond what the extent table can make).</summary>
    public const ulong MaxRefs = uint.MaxValue;

    /// <summary>Whether an rmap-table slot holds a reference-count record rather than an owner (by magic only).</summary>
    public static bool IsRefcountSlot(ReadOnlySpan<byte> slot) => U16(slot, 4) == Magic;

    public static void Seal(in RefcountRecord r, Span<byte> dst)
    {
        dst = dst[..Size];
        dst.Clear();
        Put(dst, 4, Magic);
        Put(dst, 8, r.PhysBlock);
        Put(dst, 16, r.BlockCount);
        Put(dst, 24, r.Refs);
        Checksum.SealRecord(dst);
    }

    public static VerifyResult VerifyRead(ReadOnlySpan<byte> src, long slot, out RefcountRecord r)
    {
        r = default;
        src = src[..Size];
        var pre = Precheck(src, Magic, "refcount slot ", (ulong)slot);
        if (!pre.IsOk) return pre;
        r = new RefcountRecord(I64(src, 8), I64(src, 16), U64(src, 24));
        if (U16(src, 6) != 0 || U64(src, 32) != 0 || U64(src, 40) != 0) return VerifyResult.Corruption($"refcount slot {slot}: reserved bytes are not zero");
        if (r.BlockCount <= 0 || r.PhysBlock <= 0 || r.PhysBlock > long.MaxValue - r.BlockCount) return VerifyResult.Corruption($"refcount slot {slot}: impossible range");
        if (r.Refs < 2 || r.Refs > MaxRefs) return VerifyResult.Corruption($"refcount slot {slot}: impossible count {r.Refs}");
        return VerifyResult.Good;
    }
}
