namespace PmemFs.Media;

/// <summary>
/// Where an image file lives: the file system under its path, and whether that file system
/// keeps its files in memory (then the page cache is the storage: msync writes nothing anywhere,
/// and the image is lost at reboot or power loss). The one place that decides "is this image in
/// memory?", for the mount's flush strategy and for what <c>pmemfs info</c> says survives.
/// </summary>
public static class ImageLocation
{
    /// <summary>What <see cref="FileSystemOf"/> says when the path's file system cannot be told.</summary>
    public const string Unknown = "unknown";

    /// <summary>
    /// The type of the file system <paramref name="path"/> lives on ("tmpfs", "ext4", "xfs"), or
    /// <see cref="Unknown"/> when it cannot be read (no such path, no permission) or has no name.
    /// </summary>
    public static string FileSystemOf(string path)
    {
        try
        {
            // statfs(2) on the path; DriveInfo names the type.
            string type = new DriveInfo(Path.GetFullPath(path)).DriveFormat;
            return string.IsNullOrEmpty(type) ? Unknown : type;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return Unknown;
        }
    }

    /// <summary>Whether a file system of type <paramref name="fileSystem"/> keeps its files in memory (tmpfs, ramfs, hugetlbfs).</summary>
    public static bool IsMemory(string fileSystem) => fileSystem is "tmpfs" or "ramfs" or "hugetlbfs";

    /// <summary>Whether <paramref name="path"/> lives on a file system in memory (<see cref="IsMemory"/>).</summary>
    public static bool IsInMemory(string path) => IsMemory(FileSystemOf(path));
}
