using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli;

/// <summary>
/// A read-only view of an unmounted image for the commands that read its tables (bmap --path,
/// rmap): the image's read lock (a mounted image is refused), a private mapping, and a read-only
/// mount, which refuses a journal that still holds transactions (the tables would be stale).
/// </summary>
public sealed class OfflineImage : IDisposable
{
    private readonly ImageLock _lock;

    public PmemMedia Media { get; }
    public FileSystem Fs { get; }

    private OfflineImage(ImageLock imageLock, PmemMedia media, FileSystem fs)
    {
        _lock = imageLock;
        Media = media;
        Fs = fs;
    }

    public static OfflineImage Open(string image)
    {
        var imageLock = ImageUse.LockForReading(image);
        PmemMedia? media = null;
        try
        {
            media = PmemMedia.Open(image, readOnly: true);
            FileSystem fs;
            try { fs = FileSystem.Mount(media, new FileSystemOptions { ReadOnly = true, Name = image }); }
            catch (ImageFormatException e)
            {
                throw Fail($"{image}: cannot read it ({e.Message}); if the journal holds transactions, mount and unmount it, or run pmemfs fsck {image}");
            }
            return new OfflineImage(imageLock, media, fs);
        }
        catch
        {
            media?.Dispose();
            imageLock.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Fs.Dispose();
        Media.Dispose();
        _lock.Dispose();
    }
}
