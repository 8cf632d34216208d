using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Cli.Tests;

/// <summary>Puts files into an image through the engine, and finds where records live.</summary>
internal static class Populate
{
    /// <summary>Creates a directory and a file in it with some data; returns the file's inode number.</summary>
    public static ulong AddFiles(string image, bool cleanUnmount = true)
    {
        var media = PmemMedia.Open(image);
        try
        {
            var fs = FileSystem.Mount(media, new FileSystemOptions { Name = image });
            Assert.Equal(Errno.Ok, fs.MakeDirectory(FormatConstants.RootIno, "dir"u8, 0x1ED, Credentials.Root, out var dir));
            Assert.Equal(Errno.Ok, fs.Create(dir.Ino, "file"u8, 0x1A4, Credentials.Root, out var file));
            Assert.Equal(Errno.Ok, fs.Write(file.Ino, 0, new byte[10000], Credentials.Root, out _));
            // Without Dispose the last transactions stay in the journal, as after a killed daemon.
            if (cleanUnmount) fs.Dispose();
            return file.Ino;
        }
        finally
        {
            media.Dispose();
        }
    }

    /// <summary>The byte offset of inode <paramref name="ino"/>'s record in the image.</summary>
    public static long InodeOffset(string image, ulong ino)
    {
        using var media = PmemMedia.Open(image, readOnly: true);
        var g = ImageReader.ReadSuperblock(media, image).Superblock.Geometry;
        return g.InodeOffset(Geometry.SlotOfIno(ino));
    }
}
