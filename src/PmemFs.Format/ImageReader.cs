using PmemFs.Media;

namespace PmemFs.Format;

/// <summary>Which superblock copy was used.</summary>
public enum SuperblockCopy { Primary, Secondary }

public sealed record OpenedSuperblock(Superblock Superblock, SuperblockCopy UsedCopy, string? PrimaryProblem, string? SecondaryProblem);

/// <summary>Finds and verifies the superblock of an image, with a clear refusal for anything else.</summary>
public static class ImageReader
{
    /// <exception cref="ImageFormatException">foreign, truncated or unreadable image.</exception>
    public static OpenedSuperblock ReadSuperblock(IMedia media, string name)
    {
        if (media.Size < FormatConstants.MinimumRegionSize)
        {
            if (media.Size >= DiskSuperblock.Size && DiskSuperblock.HasMagic(media.Read(0, DiskSuperblock.Size)))
                throw new ImageFormatException($"{name}: image is truncated ({media.Size} bytes; a PmemFs image is at least {FormatConstants.MinimumRegionSize} bytes)");
            throw new ImageFormatException($"{name}: not a PmemFs image ({media.Size} bytes is too small to hold one)");
        }

        var primary = DiskSuperblock.VerifyRead(media.Read(0, DiskSuperblock.Size), out var sb1);
        string? p1 = primary.IsOk ? null : primary.Problem ?? "empty";
        if (sb1 is not null && sb1.Geometry.RegionSize != media.Size)
        {
            if (sb1.Geometry.RegionSize > media.Size)
                throw new ImageFormatException($"{name}: image is truncated: its superblock describes {sb1.Geometry.RegionSize} bytes but only {media.Size} are there");
            p1 = $"superblock describes {sb1.Geometry.RegionSize} bytes but the region has {media.Size}";
        }

        long lastBlock = media.Size / FormatConstants.BlockSize - 1;
        var secondary = DiskSuperblock.VerifyRead(media.Read(lastBlock * FormatConstants.BlockSize, DiskSuperblock.Size), out var sb2);
        string? p2 = secondary.IsOk ? null : secondary.Problem ?? "empty";
        if (sb2 is not null && sb2.Geometry.RegionSize != media.Size) { p2 = "secondary superblock describes another region size"; sb2 = null; }

        if (p1 is null && sb1 is not null)
        {
            if (sb2 is not null && sb2 != sb1) p2 = "secondary superblock differs from the primary";
            return new OpenedSuperblock(sb1, SuperblockCopy.Primary, null, p2);
        }
        if (sb2 is not null) return new OpenedSuperblock(sb2, SuperblockCopy.Secondary, p1, null);

        bool looksOurs = DiskSuperblock.HasMagic(media.Read(0, DiskSuperblock.Size))
            || DiskSuperblock.HasMagic(media.Read(lastBlock * FormatConstants.BlockSize, DiskSuperblock.Size));
        if (!looksOurs) throw new ImageFormatException($"{name}: not a PmemFs image (no PmemFs superblock at the start or the end)");
        throw new ImageFormatException($"{name}: both superblocks are unusable (primary: {p1}; secondary: {p2})");
    }

    /// <summary>Rewrites one superblock copy from another (repair, or mount after a bad primary).</summary>
    public static void WriteSuperblock(IMedia media, Superblock sb, SuperblockCopy copy)
    {
        Span<byte> buf = stackalloc byte[DiskSuperblock.Size];
        DiskSuperblock.Encode(sb, buf);
        long at = copy == SuperblockCopy.Primary ? 0 : sb.Geometry.SecondarySuperblock * FormatConstants.BlockSize;
        media.Write(at, buf);
        media.Persist(at, DiskSuperblock.Size);
    }
}
