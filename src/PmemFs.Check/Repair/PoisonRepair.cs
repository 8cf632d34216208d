using System.Globalization;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Check;

/// <summary>
/// The first step of `fsck --repair` on a region with bad ranges: poison in metadata areas is
/// cleared (the bytes read zeros after, so the records there count as damaged and the repair
/// rebuilds what the rest still says), never read through. File data and free space keep their
/// poison: the file system serves them (EIO, withheld) and only a write or `pmemfs poison clear`
/// should decide to give up those bytes.
/// </summary>
internal static class PoisonRepair
{
    public static List<RepairChange> ClearMetadataPoison(IMedia media)
    {
        var changes = new List<RepairChange>();
        var bad = EmulatedPoisonMedia.BadRangesOf(media);
        if (bad.Count == 0) return changes;
        IMedia region = media is PmemMedia { IsDeviceDax: false } file ? EmulatedPoisonMedia.Attach(file) : media;
        Geometry g;
        try { g = ImageReader.ReadSuperblock(new PoisonMaskedMedia(media, bad), "image").Superblock.Geometry; }
        catch (ImageFormatException) { return changes; } // the check that follows says why
        long bs = FormatConstants.BlockSize;
        foreach (var r in bad)
            foreach (var (kind, start, blocks) in g.MetadataAreas())
            {
                long s = Math.Max(r.Offset, start * bs), e = Math.Min(r.End, (start + blocks) * bs);
                if (s >= e) continue;
                region.ClearPoison(s, e - s);
                changes.Add(new RepairChange("poison", $"cleared poison in the {PhasePoison.Name(kind)} at region bytes {s.ToString(CultureInfo.InvariantCulture)}-{(e - 1).ToString(CultureInfo.InvariantCulture)}; what it held is rebuilt from the rest"));
            }
        return changes;
    }
}
