using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Check.Tests;

/// <summary>
/// What the engine of this build can mount, asked once: the engine learns reference-count
/// records (shared extents, format version 2) on its own branch, so the tests that mount a
/// repaired image holding them do so only once it does (then they check it, with no change here).
/// </summary>
public static class EngineSupport
{
    private static readonly Lazy<bool> Shared = new(() =>
    {
        using var img = new TestImage();
        ulong one = img.File(TestImage.Root, "one");
        img.Write(one, 0, TestImage.Pattern(4096, 1));
        ulong two = img.File(TestImage.Root, "two");
        img.Write(two, 0, TestImage.Pattern(4096, 2));
        img.Unmount();
        var a = img.Extents(one)[0].Rec;
        img.Remap(img.Extents(two)[0], a.PhysBlock);
        img.WriteRefcount(img.FreeRmapSlot(), new RefcountRecord(a.PhysBlock, a.BlockCount, 2));
        if (!img.Check().IsClean) throw new InvalidOperationException("the probe image for shared extents is not clean");
        try
        {
            FileSystem.Mount(img.Media).Dispose();
            return true;
        }
        catch (ImageFormatException)
        {
            return false;
        }
    });

    /// <summary>Whether the engine mounts a clean image with two files sharing blocks.</summary>
    public static bool MountsSharedImages => Shared.Value;

    /// <summary>Whether <paramref name="media"/>'s rmap table holds a reference-count record.</summary>
    public static bool HoldsRefcounts(IMedia media)
    {
        var g = ImageReader.ReadSuperblock(media, "test").Superblock.Geometry;
        for (long slot = 0; slot < g.RmapCount; slot++)
            if (DiskRefcount.IsRefcountSlot(media.Read(g.RmapOffset(slot), DiskRmap.Size))) return true;
        return false;
    }
}
