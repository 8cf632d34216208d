using System.Runtime.InteropServices;
using PmemFs.Media;

namespace PmemFs.Daemon;

/// <summary>
/// The flush strategy for an image in memory (tmpfs, ramfs). There the page cache is the
/// storage: msync writes nothing anywhere, and a killed daemon loses nothing either way, so
/// libpmem2's page granularity (persist = msync per store) only costs time. Such images are
/// mapped with cache-line granularity (persist = clwb/clflushopt + sfence), which is what they
/// emulate and what DESIGN's durability contract says of /dev/shm. An explicit
/// PMEM2_FORCE_GRANULARITY in the environment wins; images on disks keep page granularity.
/// </summary>
public static partial class EmulatedPmem
{
    private const string ForceVariable = "PMEM2_FORCE_GRANULARITY";

    /// <summary>Whether a mount of <paramref name="image"/> maps it with cache-line granularity (an image file in memory, no explicit override).</summary>
    public static bool PrefersCacheLine(string image)
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(ForceVariable))) return false;
        if (!File.Exists(image)) return false; // a device: libpmem2 knows best
        string fileSystem = ImageLocation.FileSystemOf(image);
        // hugetlbfs is memory too, but it has always kept libpmem2's choice here.
        return ImageLocation.IsMemory(fileSystem) && fileSystem != "hugetlbfs";
    }

    /// <summary>Called before the image is mapped: sets the native environment libpmem2 reads.</summary>
    public static void ChooseGranularity(string image, DaemonLog log)
    {
        if (!PrefersCacheLine(image)) return;
        // libpmem2 calls getenv() at map time: the native environment, not .NET's copy.
        if (setenv(ForceVariable, "CACHE_LINE", 0) != 0)
            log.Error($"cannot set {ForceVariable} (errno {Marshal.GetLastPInvokeError()}); mapping with page granularity");
    }

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int setenv(string name, string value, int overwrite);
}
