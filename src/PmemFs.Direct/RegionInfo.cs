namespace PmemFs.Direct;

/// <summary>The store granularity of a region (libpmem2's enum pmem2_granularity).</summary>
public enum StoreGranularity
{
    /// <summary>A store is durable once globally visible (eADR): persist is a fence.</summary>
    Byte = 0,

    /// <summary>A store is durable after a cache-line flush and a fence (real pmem, device DAX, MAP_SYNC).</summary>
    CacheLine = 1,

    /// <summary>Durability needs msync: persist is an msync of the pages (an image on a disk file system).</summary>
    Page = 2,
}

/// <summary>The region a mount serves (PMEMFS_IOC_REGION), as the client mapped it.</summary>
/// <param name="Path">the image file or /dev/dax device</param>
/// <param name="IsDeviceDax">a device-DAX character device rather than an image file</param>
/// <param name="Size">bytes</param>
/// <param name="Uuid">the file system's UUID, checked against the region's own bytes</param>
/// <param name="DaemonGranularity">what the daemon maps the region with</param>
/// <param name="Granularity">what this process's mappings of it have (persist uses it)</param>
/// <param name="Alignment">every mapping's region offset and length are multiples of this (4 KiB for files, usually 2 MiB for device DAX)</param>
public sealed record RegionInfo(string Path, bool IsDeviceDax, long Size, Guid Uuid, StoreGranularity DaemonGranularity,
    StoreGranularity Granularity, long Alignment);
