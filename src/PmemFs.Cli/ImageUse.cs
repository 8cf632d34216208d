using PmemFs.Cli.Commands;
using PmemFs.Media;

namespace PmemFs.Cli;

/// <summary>
/// Keeps mkfs and fsck away from an image a daemon has mounted (the daemon holds the image's
/// write lock for its whole life). A daemon that is just finishing an unmount gets a few
/// seconds to let go.
/// </summary>
public static class ImageUse
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    public static ImageLock LockForReading(string path) =>
        ImageLock.TryAcquire(path, exclusive: false, Grace) ?? throw InUse(path);

    public static ImageLock LockForWriting(string path) =>
        ImageLock.TryAcquire(path, exclusive: true, Grace) ?? throw InUse(path);

    private static CommandFailedException InUse(string path) =>
        CommandGuard.Fail($"{path}: in use by a mounted PmemFs daemon; unmount it first (pmemfs unmount DIR)");
}
