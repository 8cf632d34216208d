using System.Security.Cryptography;

namespace PmemFs.Cli.Tests;

/// <summary>A unique image path on /dev/shm (or the temp directory), always deleted.</summary>
internal sealed class TempImage : IDisposable
{
    public TempImage()
    {
        string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();
        Path = System.IO.Path.Combine(dir, $"pmemfs-cli-test-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
    }

    public string Path { get; }

    public bool Exists => File.Exists(Path);

    public long Length => new FileInfo(Path).Length;

    /// <summary>Writes <paramref name="length"/> bytes of a deterministic pattern as the file.</summary>
    public void WriteRandom(long length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        File.WriteAllBytes(Path, bytes);
    }

    public void WriteZeros(long length)
    {
        using var stream = new FileStream(Path, FileMode.Create, FileAccess.Write);
        stream.SetLength(length);
    }

    public void Truncate(long length)
    {
        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Write);
        stream.SetLength(length);
    }

    /// <summary>XORs one byte of the file (in place, through ordinary file I/O).</summary>
    public void FlipByte(long offset, byte mask = 0x01)
    {
        using var handle = File.OpenHandle(Path, FileMode.Open, FileAccess.ReadWrite);
        var one = new byte[1];
        RandomAccess.Read(handle, one, offset);
        one[0] ^= mask;
        RandomAccess.Write(handle, one, offset);
    }

    public string Hash()
    {
        using var stream = File.OpenRead(Path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    public void Dispose() => File.Delete(Path);
}
