using System.Buffers.Binary;

namespace PmemFs.Format;

/// <summary>Little-endian field access for the fixed-layout records.</summary>
internal static class RecordCodec
{
    public static ushort U16(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadUInt16LittleEndian(s[off..]);
    public static uint U32(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadUInt32LittleEndian(s[off..]);
    public static ulong U64(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadUInt64LittleEndian(s[off..]);
    public static long I64(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadInt64LittleEndian(s[off..]);
    public static void Put(Span<byte> s, int off, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(s[off..], v);
    public static void Put(Span<byte> s, int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(s[off..], v);
    public static void Put(Span<byte> s, int off, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(s[off..], v);
    public static void Put(Span<byte> s, int off, long v) => BinaryPrimitives.WriteInt64LittleEndian(s[off..], v);

    public static bool IsAllZero(ReadOnlySpan<byte> s) => s.IndexOfAnyExcept((byte)0) < 0;

    /// <summary>Common first steps of every record verifier: empty, magic, checksum.</summary>
    /// <summary>
    /// <see cref="Precheck(ReadOnlySpan{byte}, ushort, string)"/> for a numbered record, named
    /// "<paramref name="prefix"/><paramref name="number"/><paramref name="suffix"/>" only when
    /// there is a problem to report: every commit verifies its records, and mount all of them.
    /// </summary>
    public static VerifyResult Precheck(ReadOnlySpan<byte> rec, ushort magic, string prefix, ulong number, string suffix = "")
    {
        var pre = Precheck(rec, magic, "");
        return pre.IsOk || pre.Verdict == Verdict.Empty ? pre : Precheck(rec, magic, $"{prefix}{number}{suffix}");
    }

    public static VerifyResult Precheck(ReadOnlySpan<byte> rec, ushort magic, string what)
    {
        ushort found = U16(rec, 4);
        if (found == 0 && IsAllZero(rec)) return VerifyResult.Blank;
        if (found != magic) return VerifyResult.Corruption($"{what}: bad magic 0x{found:x4}");
        if (!Checksum.RecordChecksumMatches(rec)) return VerifyResult.Checksum(what);
        return VerifyResult.Good;
    }
}
