using System.Buffers.Binary;
using System.Text;

namespace PmemFs.Format;

/// <summary>The superblock as it is in memory.</summary>
public sealed record Superblock
{
    public required Geometry Geometry { get; init; }
    public required Guid Uuid { get; init; }
    public required long CreatedNs { get; init; }
    /// <summary>Salt mixed into journal commit words so a foreign log can never look committed.</summary>
    public required ulong JournalSalt { get; init; }
    public ulong UnsafeShutdownCount { get; init; }
    public string Label { get; init; } = "";
    /// <summary>Format version of the image: 1 (no shared extents) or 2 (reference-count records may exist).</summary>
    public uint Version { get; init; } = FormatConstants.FormatVersion;
}

/// <summary>
/// On-media superblock: block 0, with a copy in the last block of the region.
/// </summary>
/// <remarks>
/// <code>
/// 0   u32 crc32c of bytes [4, 512)     96  u64 inode table start block
/// 4   u32 format version (1 or 2)      104 u64 inode count
/// 8   u64 magic "PMEMFS\0\x01"        112 u64 dirent table start block
/// 16  u64 region size in bytes         120 u64 dirent count
/// 24  u32 block size (4096)            128 u64 extent table start block
/// 28  u32 feature flags (0)            136 u64 extent count
/// 32  u64 block count                  144 u64 rmap table start block
/// 40  u8[16] uuid                      152 u64 rmap count
/// 56  i64 creation time (ns)           160 u64 data start block
/// 64  u64 journal start block          168 u64 data block count
/// 72  u64 journal blocks               176 u64 root inode number (1)
/// 80  u64 bitmap start block           184 u64 device unsafe-shutdown count
/// 88  u64 bitmap blocks                192 u64 journal commit salt
///                                      200 u8[64] label, NUL padded; 264..511 zero
/// </code>
/// </remarks>
public static class DiskSuperblock
{
    public const int Size = 512;
    public static ReadOnlySpan<byte> MagicBytes => "PMEMFS\0\u0001"u8;

    /// <summary>The longest label in bytes of UTF-8 (NUL padded on the media, no NUL needed when full).</summary>
    public const int MaxLabelBytes = LabelLength;

    /// <summary>Where the UUID is in the superblock, and so in the region (the primary superblock is its first bytes).</summary>
    public const int UuidOffset = 40;
    private const int OffUuid = UuidOffset;

    private const int OffVersion = 4, OffMagic = 8, OffRegionSize = 16, OffBlockSize = 24, OffFeatures = 28,
        OffBlockCount = 32, OffCreated = 56, OffJournalStart = 64, OffJournalBlocks = 72,
        OffBitmapStart = 80, OffBitmapBlocks = 88, OffInodeStart = 96, OffInodeCount = 104,
        OffDirentStart = 112, OffDirentCount = 120, OffExtentStart = 128, OffExtentCount = 136,
        OffRmapStart = 144, OffRmapCount = 152, OffDataStart = 160, OffDataBlocks = 168, OffRootIno = 176,
        OffUsc = 184, OffSalt = 192, OffLabel = 200, LabelLength = 64;

    public static void Encode(Superblock sb, Span<byte> dst)
    {
        dst = dst[..Size];
        dst.Clear();
        var g = sb.Geometry;
        BinaryPrimitives.WriteUInt32LittleEndian(dst[OffVersion..], sb.Version);
        MagicBytes.CopyTo(dst[OffMagic..]);
        W(dst, OffRegionSize, g.RegionSize);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[OffBlockSize..], FormatConstants.BlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[OffFeatures..], 0);
        W(dst, OffBlockCount, g.BlockCount);
        sb.Uuid.TryWriteBytes(dst.Slice(OffUuid, 16));
        W(dst, OffCreated, sb.CreatedNs);
        W(dst, OffJournalStart, g.JournalStart);
        W(dst, OffJournalBlocks, g.JournalBlocks);
        W(dst, OffBitmapStart, g.BitmapStart);
        W(dst, OffBitmapBlocks, g.BitmapBlocks);
        W(dst, OffInodeStart, g.InodeTableStart);
        W(dst, OffInodeCount, g.InodeCount);
        W(dst, OffDirentStart, g.DirentTableStart);
        W(dst, OffDirentCount, g.DirentCount);
        W(dst, OffExtentStart, g.ExtentTableStart);
        W(dst, OffExtentCount, g.ExtentCount);
        W(dst, OffRmapStart, g.RmapTableStart);
        W(dst, OffRmapCount, g.RmapCount);
        W(dst, OffDataStart, g.DataStart);
        W(dst, OffDataBlocks, g.DataBlocks);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[OffRootIno..], FormatConstants.RootIno);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[OffUsc..], sb.UnsafeShutdownCount);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[OffSalt..], sb.JournalSalt);
        var label = Encoding.UTF8.GetBytes(sb.Label);
        if (label.Length > LabelLength) throw new ArgumentException($"label is longer than {LabelLength} bytes");
        label.CopyTo(dst[OffLabel..]);
        Checksum.SealRecord(dst);
    }

    /// <summary>True when the bytes start like a PmemFs superblock, whatever their checksum.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> src) =>
        src.Length >= Size && src.Slice(OffMagic, 8).SequenceEqual(MagicBytes);

    public static VerifyResult VerifyRead(ReadOnlySpan<byte> src, out Superblock? sb)
    {
        sb = null;
        src = src[..Size];
        if (!HasMagic(src)) return src.IndexOfAnyExcept((byte)0) < 0 ? VerifyResult.Blank : VerifyResult.Corruption("no PmemFs magic");
        if (!Checksum.RecordChecksumMatches(src)) return VerifyResult.Checksum("superblock");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(src[OffVersion..]);
        if (version < FormatConstants.OldestFormatVersion || version > FormatConstants.FormatVersion)
            return VerifyResult.Corruption($"format version {version} is not supported (this build reads versions {FormatConstants.OldestFormatVersion} to {FormatConstants.FormatVersion})");
        uint blockSize = BinaryPrimitives.ReadUInt32LittleEndian(src[OffBlockSize..]);
        if (blockSize != FormatConstants.BlockSize) return VerifyResult.Corruption($"block size {blockSize} is not {FormatConstants.BlockSize}");
        uint features = BinaryPrimitives.ReadUInt32LittleEndian(src[OffFeatures..]);
        if (features != 0) return VerifyResult.Corruption($"unknown feature flags 0x{features:x}");
        var g = new Geometry
        {
            RegionSize = R(src, OffRegionSize),
            JournalStart = R(src, OffJournalStart),
            JournalBlocks = R(src, OffJournalBlocks),
            BitmapStart = R(src, OffBitmapStart),
            BitmapBlocks = R(src, OffBitmapBlocks),
            InodeTableStart = R(src, OffInodeStart),
            InodeCount = R(src, OffInodeCount),
            DirentTableStart = R(src, OffDirentStart),
            DirentCount = R(src, OffDirentCount),
            ExtentTableStart = R(src, OffExtentStart),
            ExtentCount = R(src, OffExtentCount),
            RmapTableStart = R(src, OffRmapStart),
            RmapCount = R(src, OffRmapCount),
            DataStart = R(src, OffDataStart),
        };
        // Reject negative numbers before any arithmetic on them.
        if (g.RegionSize <= 0 || g.JournalBlocks < 0 || g.BitmapBlocks < 0 || g.InodeCount < 0 || g.DirentCount < 0 || g.ExtentCount < 0 || g.RmapCount < 0 || g.DataStart < 0 || g.RegionSize > (1L << 56))
            return VerifyResult.Corruption("superblock holds an impossible size or count");
        string? problem = g.Validate();
        if (problem is not null) return VerifyResult.Corruption($"superblock geometry: {problem}");
        if (R(src, OffBlockCount) != g.BlockCount) return VerifyResult.Corruption("superblock block count disagrees with region size");
        if (R(src, OffDataBlocks) != g.DataBlocks) return VerifyResult.Corruption("superblock data block count disagrees with geometry");
        if (BinaryPrimitives.ReadUInt64LittleEndian(src[OffRootIno..]) != FormatConstants.RootIno) return VerifyResult.Corruption("root inode is not 1");
        var labelBytes = src.Slice(OffLabel, LabelLength);
        int nul = labelBytes.IndexOf((byte)0);
        sb = new Superblock
        {
            Geometry = g,
            Uuid = new Guid(src.Slice(OffUuid, 16)),
            CreatedNs = R(src, OffCreated),
            JournalSalt = BinaryPrimitives.ReadUInt64LittleEndian(src[OffSalt..]),
            UnsafeShutdownCount = BinaryPrimitives.ReadUInt64LittleEndian(src[OffUsc..]),
            Label = Encoding.UTF8.GetString(nul < 0 ? labelBytes : labelBytes[..nul]),
            Version = version,
        };
        return VerifyResult.Good;
    }

    private static void W(Span<byte> dst, int offset, long value) => BinaryPrimitives.WriteInt64LittleEndian(dst[offset..], value);
    private static long R(ReadOnlySpan<byte> src, int offset) => BinaryPrimitives.ReadInt64LittleEndian(src[offset..]);
}
