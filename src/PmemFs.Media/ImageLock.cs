using System.Runtime.InteropServices;

namespace PmemFs.Media;

/// <summary>
/// An advisory lock on an image (an open-file-description lock, fcntl F_OFD_SETLK, which
/// does not interfere with the flock .NET itself takes on open files): a mounting daemon holds it exclusively for its whole
/// life, so a second mount, mkfs or fsck of a mounted image is refused instead of racing it,
/// and a new mount waits until a just-unmounted daemon has let go.
/// </summary>
public sealed class ImageLock : IDisposable
{
    private readonly SafeHandle _file;

    private ImageLock(SafeHandle file) => _file = file;

    /// <summary>
    /// Takes the lock, retrying until <paramref name="wait"/> has passed; null when another process
    /// still holds it. Exclusive for a mount or mkfs, shared for readers (fsck, info).
    /// </summary>
    public static unsafe ImageLock? TryAcquire(string path, bool exclusive, TimeSpan wait)
    {
        // A write lock needs a descriptor open for writing.
        var handle = Access.RegionFile.Open(path, writable: exclusive);
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            var request = new Native.LibC.flock_t { l_type = exclusive ? Native.LibC.F_WRLCK : Native.LibC.F_RDLCK };
            if (Native.LibC.fcntl_lock(handle, Native.LibC.F_OFD_SETLK, &request) == 0)
                return new ImageLock(handle);
            int errno = Marshal.GetLastPInvokeError();
            if (errno is not (Native.LibC.EAGAIN or Native.LibC.EACCES or Native.LibC.EINTR))
            {
                handle.Dispose();
                throw new MediaException($"{path}: cannot lock the image (errno {errno})");
            }
            if (DateTime.UtcNow >= deadline)
            {
                handle.Dispose();
                return null;
            }
            Thread.Sleep(20);
        }
    }

    public void Dispose() => _file.Dispose();
}
