using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>On-media reverse-map record: physical blocks -> owner.</summary>
/// <remarks>
/// <code>
/// 0  u32 crc32c of [4, 48)   8  i64 physical block   24 u64 owner inode (0 for metadata)
/// 4  u16 magic "RM"          16 i64 block count      32 i64 file block in the owner (0 for metadata)
/// 6  u8 owner kind (RmapOwnerKind)                   40 u64 zero (reserved)
/// 7  u8 flags (0)
/// </code>
/// </remarks>
public static class DiskRmap
{
    public const int Size = 48;
    public const ushort Magic = 0x4D52;

    public static void Seal(in RmapRecord r, Span<byte> dst)
    {
        dst = dst[..Size];
        dst.Clear();
        Put(dst, 4, Magic);
        dst[6] = (byte)r.Kind;
        Put(dst, 8, r.PhysBlock);
        Put(dst, 16, r.BlockCount);
        Put(dst, 24, r.Owner);
        Put(dst, 32, r.FileBlock);
        Checksum.SealRecord(dst);
    }

    public static VerifyResult VerifyRead(ReadOnlySpan<byte> src, long slot, out RmapRecord r)
    {
        r = default;
        src = src[..Size];
        var pre = Precheck(src, Magic, "rmap slot ", (ulong)slot);
        if (!pre.IsOk) return pre;
        r = new RmapRecord(I64(src, 8), I64(src, 16), (RmapOwnerKind)src[6], U64(src, 24), I64(src, 32));
        if (!Enum.IsDefined(r.Kind)) return VerifyResult.Corruption($"rmap slot {slot}: unknown owner kind {src[6]}");
        if (src[7] != 0) return VerifyResult.Corruption($"rmap slot {slot}: unknown flags {src[7]}");
        if (r.BlockCount <= 0 || r.PhysBlock < 0 || r.FileBlock < 0) return VerifyResult.Corruption($"rmap slot {slot}: impossible range");
        if (r.IsMetadata != (r.Owner == 0)) return VerifyResult.Corruption($"rmap slot {slot}: owner {r.Owner} does not fit kind {r.Kind}");
        return VerifyResult.Good;
    }
}
