using System.Text;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Engine.Tests;

/// <summary>A freshly formatted file system on an in-memory media, with remount.</summary>
public sealed class EngineFixture : IDisposable
{
    public const ulong Root = FormatConstants.RootIno;
    public const uint RegularMode = 0x81A4; // -rw-r--r--
    public const uint DirMode = 0x1ED;      // 0755

    /// <param name="wrap">What the file system is mounted on, around the memory (a poisonable media, say); the memory itself by default.</param>
    public EngineFixture(long size = 64L << 20, long? inodes = null, InodeFlags rootFlags = InodeFlags.None, FileSystemOptions? options = null,
        Func<MemoryMedia, IMedia>? wrap = null)
    {
        Media = new MemoryMedia(size);
        Mkfs.Format(Media, new MkfsOptions { InodeCount = inodes, RootFlags = rootFlags });
        Mounted = wrap?.Invoke(Media) ?? Media;
        Fs = FileSystem.Mount(Mounted, options);
    }

    public MemoryMedia Media { get; }

    /// <summary>The media the file system is mounted on (<see cref="Media"/>, or what wraps it).</summary>
    public IMedia Mounted { get; }
    public FileSystem Fs { get; private set; }

    /// <summary>Clean unmount and mount again: everything must come back from the media.</summary>
    public FileSystem Remount(FileSystemOptions? options = null)
    {
        Fs.Dispose();
        Fs = FileSystem.Mount(Mounted, options);
        return Fs;
    }

    public static byte[] N(string name) => Encoding.UTF8.GetBytes(name);

    public ulong CreateFile(ulong parent, string name, uint mode = RegularMode)
    {
        Assert.Equal(Errno.Ok, Fs.Create(parent, N(name), mode, Credentials.Root, out var a));
        return a.Ino;
    }

    public ulong MakeDir(ulong parent, string name)
    {
        Assert.Equal(Errno.Ok, Fs.MakeDirectory(parent, N(name), DirMode, Credentials.Root, out var a));
        return a.Ino;
    }

    public void Write(ulong ino, long offset, byte[] data)
    {
        Assert.Equal(Errno.Ok, Fs.Write(ino, offset, data, Credentials.Root, out int n));
        Assert.Equal(data.Length, n);
    }

    public byte[] ReadAll(ulong ino)
    {
        Assert.Equal(Errno.Ok, Fs.GetAttr(ino, out var a));
        var buf = new byte[a.Size];
        Assert.Equal(Errno.Ok, Fs.Read(ino, 0, buf, out int n));
        Assert.Equal(a.Size, n);
        return buf;
    }

    public ulong LookupIno(ulong parent, string name)
    {
        Assert.Equal(Errno.Ok, Fs.Lookup(parent, N(name), out var a));
        return a.Ino;
    }

    public List<string> List(ulong dir)
    {
        var names = new List<string>();
        Assert.Equal(Errno.Ok, Fs.ReadDirectory(dir, 0, item => { names.Add(Encoding.UTF8.GetString(item.Name)); return true; }));
        return names.Where(n => n is not "." and not "..").Order(StringComparer.Ordinal).ToList();
    }

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    public void Dispose()
    {
        Fs.Dispose();
        if (!ReferenceEquals(Mounted, Media)) Mounted.Dispose();
        Media.Dispose();
    }
}
