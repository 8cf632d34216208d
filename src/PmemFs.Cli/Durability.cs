using PmemFs.Media;

namespace PmemFs.Cli;

/// <summary>
/// What "durable" means for an image, in plain words (DESIGN, "Durability contract"): where it
/// lives decides what survives, and the store granularity a mount maps it with decides whether
/// user-space cache flushes are enough or persist has to msync.
/// </summary>
public sealed record Durability(string Location, string FileSystemType, StoreGranularity Granularity, bool UserSpaceFlushSuffices, string Survives, string Persist)
{
    public static Durability Of(PmemMedia media)
    {
        var granularity = media.IsPrivateCopy ? SharedGranularity(media.Path) : media.Granularity;
        // What a mount gets: an image in memory is mapped with cache-line flushes (docs/mount.md).
        if (!media.IsDeviceDax && Daemon.EmulatedPmem.PrefersCacheLine(media.Path)) granularity = StoreGranularity.CacheLine;
        bool flushSuffices = granularity != StoreGranularity.Page;
        string persist = granularity switch
        {
            StoreGranularity.Byte => "stores are durable as soon as they are globally visible (eADR); a flush is not even needed",
            StoreGranularity.CacheLine => "a CPU cache flush from user space (clwb/clflushopt + fence) makes stores durable; no msync",
            _ => "user-space cache flushes are not enough: persist means msync of the pages (slower, still correct)",
        };

        if (media.IsDeviceDax)
            return new Durability("device DAX", "devdax", granularity, flushSuffices,
                "real persistent memory: what was persisted survives a killed daemon, a reboot and a power loss", persist);

        string fsType = ImageLocation.FileSystemOf(media.Path);
        bool ram = ImageLocation.IsMemory(fsType);
        string survives = ram
            ? $"a file in memory ({fsType}): completed stores survive a killed daemon, but the image is lost at reboot or power loss"
            : $"a file on a {fsType} file system: what was persisted (msync) survives a killed daemon and a reboot";
        return new Durability(ram ? "emulated pmem file in memory" : "emulated pmem file on disk", fsType, granularity, flushSuffices, survives, persist);
    }

    public string GranularityName => Granularity switch
    {
        StoreGranularity.Byte => "byte",
        StoreGranularity.CacheLine => "cache line",
        _ => "page",
    };

    public string FlushSufficesText => UserSpaceFlushSuffices ? "yes" : "no (persist uses msync)";

    /// <summary>
    /// The granularity a read-write (shared) mapping of the file gets. A private copy-on-write
    /// view, which is how fsck and info open a file, reports byte granularity from libpmem2
    /// (its stores never reach the file, so there is nothing to flush), which says nothing about
    /// the image. So map the file shared once, read the granularity and unmap, storing nothing;
    /// when that is not allowed (no write permission), say what libpmem2 gives a plain file:
    /// page granularity, unless PMEM2_FORCE_GRANULARITY says otherwise.
    /// </summary>
    private static StoreGranularity SharedGranularity(string path)
    {
        try
        {
            using var shared = PmemMedia.Open(path);
            return shared.Granularity;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Environment.GetEnvironmentVariable("PMEM2_FORCE_GRANULARITY")?.ToUpperInvariant() switch
            {
                "BYTE" => StoreGranularity.Byte,
                "CACHE_LINE" or "CL" => StoreGranularity.CacheLine,
                _ => StoreGranularity.Page,
            };
        }
    }
}
