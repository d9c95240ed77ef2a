using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace EdgeRnn.Daemon;

/// <summary>One forecast waiting for its PUBACK.</summary>
public sealed record OutboxMessage(string Stream, long Seq, string Topic, uint ExpirySeconds, byte[] Payload);

/// <summary>
/// Bounded durable outbox: an append-only spool of segment files, each record [u32 length][u32 crc32][body], read in order
/// by the publisher and removed only after the broker's PUBACK. Why segments: dropping the oldest data when the cap is hit
/// and freeing acknowledged data are both a file deletion, never a rewrite (SD cards wear by writes).
/// Durability policy: every record is written with one pwrite (so a killed process loses nothing: it is in the page cache),
/// fsync runs on a timer (a power cut loses at most that interval), the ack cursor is renamed into place without fsync
/// (losing it only re-sends, and MQTT consumers see at-least-once anyway).
/// Every segment starts with a snapshot of each stream's last sequence number, so seq survives restarts even when every
/// older segment was acknowledged and deleted. The same numbers are also kept apart from the records, in the file "seq"
/// (written with the fsync timer, at every rotation and before a segment is reused), and recovery takes the highest of
/// records, snapshots and that file: a damaged or truncated spool can lose forecasts but never hands out a seq again.
/// A write that fails (disk full, read-only remount) drops that forecast without using up its seq, counts it in
/// <see cref="WriteFailures"/>, and reports the fault in <see cref="WriteError"/> until a write succeeds again; when
/// everything was acknowledged the spent segment is reused in place, so a full disk recovers without help.
/// </summary>
public sealed class Outbox : IDisposable
{
    private const byte TypeMessage = 1, TypeSnapshot = 2;
    private const int HeaderSize = 8;
    private const int MaxRecord = 16 << 20;

    private sealed class Segment(long id, string path, long length)
    {
        public long Id = id;
        public string Path = path;
        public long Length = length;
    }

    private readonly object _gate = new();
    private readonly string _dir;
    private readonly long _maxBytes;
    private readonly long _segmentBytes;
    private readonly ILogger? _log;
    private readonly List<Segment> _segments = new();
    private readonly Dictionary<string, long> _lastSeq = new(StringComparer.Ordinal);
    private readonly Timer? _fsyncTimer;
    private SafeFileHandle _writeHandle = null!;
    private SafeFileHandle? _readHandle;
    private long _readHandleSegment = -1;
    private int _cursorSegment; // index into _segments
    private long _cursorOffset;
    private bool _cursorDirty, _dataDirty;
    private long _depth, _dropped, _writeFailures;
    private string? _writeError;
    private bool _seqDirty;
    private long _lastFailureLogTicks;
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disposed;

    public Outbox(string directory, long maxBytes, TimeSpan fsyncInterval, ILogger? log = null)
    {
        if (maxBytes < 16 * 1024) throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "outbox cap must be at least 16 KiB");
        _dir = directory;
        _maxBytes = maxBytes;
        _segmentBytes = Math.Clamp(maxBytes / 8, 4096, 8 << 20);
        _log = log;
        Directory.CreateDirectory(directory);
        Recover();
        if (fsyncInterval > TimeSpan.Zero) _fsyncTimer = new Timer(_ => Sync(), null, fsyncInterval, fsyncInterval);
    }

    /// <summary>Messages written and not yet acknowledged.</summary>
    public long Depth { get { lock (_gate) return _depth; } }
    /// <summary>Messages dropped (oldest first) because the cap was hit.</summary>
    public long Dropped { get { lock (_gate) return _dropped; } }
    public long Bytes { get { lock (_gate) return TotalBytes(); } }
    /// <summary>Forecasts dropped because the spool could not be written (disk full, read-only).</summary>
    public long WriteFailures { get { lock (_gate) return _writeFailures; } }
    /// <summary>Why the last append failed, while the spool cannot be written; null when it can.</summary>
    public string? WriteError { get { lock (_gate) return _writeError; } }

    /// <summary>Test seam: throws (as a full or read-only disk would) before a write at the given spool byte count.</summary>
    internal Action? BeforeWrite { get; set; }

    /// <summary>The last sequence number ever written for the stream (0 if none).</summary>
    public long LastSeq(string stream) { lock (_gate) return _lastSeq.TryGetValue(stream, out long s) ? s : 0; }

    /// <summary>
    /// Appends one message; seq must be exactly LastSeq(stream) + 1 (no repeats, no gaps). False when the spool cannot be
    /// written (disk full, read-only): the message is dropped and counted, and its seq is not used up.
    /// </summary>
    public bool Append(string stream, long seq, string topic, uint expirySeconds, ReadOnlySpan<byte> payload)
    {
        int streamLen = Encoding.UTF8.GetByteCount(stream), topicLen = Encoding.UTF8.GetByteCount(topic);
        int bodyLen = 1 + 2 + streamLen + 8 + 4 + 2 + topicLen + payload.Length;
        if (bodyLen > MaxRecord) throw new ArgumentException($"outbox record of {bodyLen} bytes exceeds {MaxRecord}", nameof(payload));
        byte[] rec = new byte[HeaderSize + bodyLen];
        Span<byte> b = rec.AsSpan(HeaderSize);
        int p = 0;
        b[p++] = TypeMessage;
        BinaryPrimitives.WriteUInt16LittleEndian(b[p..], (ushort)streamLen); p += 2;
        p += Encoding.UTF8.GetBytes(stream, b[p..]);
        BinaryPrimitives.WriteInt64LittleEndian(b[p..], seq); p += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(b[p..], expirySeconds); p += 4;
        BinaryPrimitives.WriteUInt16LittleEndian(b[p..], (ushort)topicLen); p += 2;
        p += Encoding.UTF8.GetBytes(topic, b[p..]);
        payload.CopyTo(b[p..]);
        Seal(rec);
        TaskCompletionSource signal;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            long last = _lastSeq.TryGetValue(stream, out long s) ? s : 0;
            if (seq != last + 1) throw new InvalidOperationException($"stream '{stream}': seq {seq} after {last} would repeat or skip");
            if (!TryWrite(rec, stream, seq)) return false;
            _lastSeq[stream] = seq;
            _seqDirty = true;
            _depth++;
            _dataDirty = true;
            EnforceCap();
            signal = _signal;
            _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        signal.TrySetResult();
        return true;
    }

    private bool TryWrite(byte[] rec, string stream, long seq)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                BeforeWrite?.Invoke();
                var cur = _segments[^1];
                if (cur.Length + rec.Length > _segmentBytes && cur.Length > 0) cur = Rotate();
                RandomAccess.Write(_writeHandle, rec, cur.Length);
                cur.Length += rec.Length;
                if (_writeError is not null)
                {
                    _log?.LogWarning("outbox writable again; {Count} forecast(s) were dropped while it was not", _writeFailures);
                    _writeError = null;
                }
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (attempt == 0 && ReuseSpentSegment()) continue;
                _writeFailures++;
                _writeError = e.Message;
                long now = Environment.TickCount64;
                if (now - _lastFailureLogTicks > 10_000 || _writeFailures == 1)
                {
                    _lastFailureLogTicks = now;
                    _log?.LogError("outbox {Dir}: cannot write ({Error}); stream {Stream} forecast seq {Seq} dropped ({Count} dropped so far); forecasting goes on",
                        _dir, e.Message, stream, seq, _writeFailures);
                }
                return false;
            }
        }
    }

    /// <summary>
    /// When every record of the only live segment is acknowledged, its space is given back by truncating it to a fresh
    /// snapshot (after the seq file is brought up to date): a full disk then frees itself without a new file.
    /// </summary>
    private bool ReuseSpentSegment()
    {
        var last = _segments[^1];
        if (_cursorSegment != _segments.Count - 1 || _cursorOffset < last.Length) return false;
        try
        {
            WriteSeqFile();
            byte[] snap = EncodeSnapshot();
            RandomAccess.SetLength(_writeHandle, 0);
            last.Length = 0;
            _cursorOffset = 0;
            _cursorDirty = true;
            RandomAccess.Write(_writeHandle, snap, 0);
            last.Length = snap.Length;
            _log?.LogWarning("outbox {Dir}: every forecast was acknowledged; segment {Path} reused in place to free space", _dir, last.Path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return last.Length == 0; // truncated but no room for the snapshot yet: the seq file still holds the numbers
        }
    }

    /// <summary>The oldest unacknowledged message, or null if none.</summary>
    public OutboxMessage? Peek()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (true)
            {
                var seg = _segments[_cursorSegment];
                if (_cursorOffset + HeaderSize > seg.Length)
                {
                    if (_cursorSegment == _segments.Count - 1) return null;
                    AdvanceSegment();
                    continue;
                }
                byte[] body = ReadBody(seg, _cursorOffset, out _);
                if (body[0] == TypeMessage) return DecodeMessage(body);
                _cursorOffset += HeaderSize + body.Length; // a snapshot: nothing to publish
                _cursorDirty = true;
            }
        }
    }

    /// <summary>The message returned by the last Peek was acknowledged by the broker.</summary>
    public void Ack(OutboxMessage message)
    {
        lock (_gate)
        {
            var seg = _segments[_cursorSegment];
            if (_cursorOffset + HeaderSize > seg.Length) return; // dropped by the cap meanwhile
            byte[] body = ReadBody(seg, _cursorOffset, out _);
            if (body[0] != TypeMessage) return;
            var m = DecodeMessage(body);
            if (m.Seq != message.Seq || m.Stream != message.Stream) return; // the cap dropped it and moved on
            _cursorOffset += HeaderSize + body.Length;
            _cursorDirty = true;
            _depth--;
            if (_cursorOffset >= seg.Length && _cursorSegment < _segments.Count - 1) AdvanceSegment();
        }
    }

    /// <summary>Completes when a message may be available (or at once if one is).</summary>
    public Task WaitAsync(CancellationToken ct)
    {
        Task t;
        lock (_gate)
        {
            if (_depth > 0) return Task.CompletedTask;
            t = _signal.Task;
        }
        return t.WaitAsync(ct);
    }

    /// <summary>fsync the data written since the last call and persist the ack cursor. Called by the timer and at shutdown.</summary>
    public void Sync()
    {
        SafeFileHandle? h = null;
        bool added = false;
        byte[]? cursor = null, seqFile = null;
        lock (_gate)
        {
            if (_disposed) return;
            if (_seqDirty) { seqFile = EncodeSeqFile(); _seqDirty = false; }
            if (_dataDirty)
            {
                h = _writeHandle;
                h.DangerousAddRef(ref added);
                _dataDirty = false;
            }
            if (_cursorDirty) { cursor = EncodeCursor(); _cursorDirty = false; }
        }
        // fsync outside the lock: the hot path appends meanwhile (a rotation closes the handle only after our release)
        try { if (added) RandomAccess.FlushToDisk(h!); }
        catch (Exception e) { _log?.LogWarning("outbox fsync failed: {Error}", e.Message); }
        finally { if (added) h!.DangerousRelease(); }
        if (seqFile is not null)
        {
            // outside the lock (it fsyncs); a rotation may write a newer one meanwhile, which only ever means higher numbers
            try { EdgeRnn.Model.AtomicFile.Write(SeqPath, seqFile); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log?.LogWarning("outbox seq file write failed: {Error}", e.Message);
                lock (_gate) _seqDirty = true;
            }
        }
        if (cursor is not null)
        {
            // rename without fsync: a lost cursor only re-sends messages
            string path = Path.Combine(_dir, "cursor"), tmp = path + ".tmp";
            try { File.WriteAllBytes(tmp, cursor); File.Move(tmp, path, true); }
            catch (Exception e)
            {
                _log?.LogWarning("outbox cursor write failed: {Error}", e.Message);
                try { File.Delete(tmp); } catch (Exception) { }
            }
        }
    }

    public void Dispose()
    {
        _fsyncTimer?.Dispose();
        Sync();
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _writeHandle.Dispose();
            _readHandle?.Dispose();
        }
        _signal.TrySetCanceled();
    }

    // ---- internals (called under _gate) ----

    private long TotalBytes() { long t = 0; foreach (var s in _segments) t += s.Length; return t; }

    private static void Seal(byte[] rec)
    {
        int bodyLen = rec.Length - HeaderSize;
        BinaryPrimitives.WriteUInt32LittleEndian(rec, (uint)bodyLen);
        BinaryPrimitives.WriteUInt32LittleEndian(rec.AsSpan(4), Crc32.Compute(rec.AsSpan(HeaderSize)));
    }

    private string SegmentPath(long id) => Path.Combine(_dir, $"seg-{id:D12}.log");

    private Segment Rotate()
    {
        var old = _segments[^1];
        RandomAccess.FlushToDisk(_writeHandle); // the finished segment is complete on disk before a newer one exists
        var seg = new Segment(old.Id + 1, SegmentPath(old.Id + 1), 0);
        // the new segment is complete (snapshot written) before it replaces the old one, so a failure (disk full) leaves
        // the spool as it was and the next append simply tries again
        var h = File.OpenHandle(seg.Path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        byte[] snap = EncodeSnapshot();
        try { RandomAccess.Write(h, snap, 0); }
        catch
        {
            h.Dispose();
            TryDelete(seg.Path);
            throw;
        }
        _writeHandle.Dispose();
        _writeHandle = h;
        seg.Length = snap.Length;
        _segments.Add(seg);
        EdgeRnn.Model.AtomicFile.FsyncDirectory(_dir);
        try { WriteSeqFile(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log?.LogWarning("outbox seq file write failed: {Error}", e.Message); }
        return seg;
    }

    private byte[] EncodeSnapshot()
    {
        int len = 1 + 2;
        foreach (var kv in _lastSeq) len += 2 + Encoding.UTF8.GetByteCount(kv.Key) + 8;
        byte[] rec = new byte[HeaderSize + len];
        Span<byte> b = rec.AsSpan(HeaderSize);
        int p = 0;
        b[p++] = TypeSnapshot;
        BinaryPrimitives.WriteUInt16LittleEndian(b[p..], (ushort)_lastSeq.Count); p += 2;
        foreach (var kv in _lastSeq)
        {
            int n = Encoding.UTF8.GetBytes(kv.Key, b[(p + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(b[p..], (ushort)n); p += 2 + n;
            BinaryPrimitives.WriteInt64LittleEndian(b[p..], kv.Value); p += 8;
        }
        Seal(rec);
        return rec;
    }

    private void EnforceCap()
    {
        while (TotalBytes() > _maxBytes && _segments.Count > 1)
        {
            var oldest = _segments[0];
            long lost = 0;
            if (_cursorSegment == 0)
            {
                lost = CountMessages(oldest, _cursorOffset);
                _cursorOffset = 0;
                _cursorDirty = true;
            }
            else _cursorSegment--;
            _segments.RemoveAt(0);
            if (_readHandleSegment == oldest.Id) { _readHandle?.Dispose(); _readHandle = null; _readHandleSegment = -1; }
            TryDelete(oldest.Path);
            _depth -= lost;
            _dropped += lost;
            if (lost > 0) _log?.LogWarning("outbox full ({Cap} bytes): dropped the {Lost} oldest unsent forecasts ({Total} dropped so far)", _maxBytes, lost, _dropped);
        }
    }

    private void AdvanceSegment()
    {
        var done = _segments[_cursorSegment];
        _segments.RemoveAt(_cursorSegment); // fully acknowledged: free it
        if (_readHandleSegment == done.Id) { _readHandle?.Dispose(); _readHandle = null; _readHandleSegment = -1; }
        TryDelete(done.Path);
        _cursorOffset = 0;
        _cursorDirty = true;
    }

    private void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log?.LogWarning("outbox: cannot delete {Path}: {Error}", path, e.Message); }
    }

    private string SeqPath => Path.Combine(_dir, "seq");

    /// <summary>"ERSQ" | u16 count | (u16 name length, name, i64 last seq)* | u32 crc32 of all before it. Atomic, fsynced.</summary>
    private void WriteSeqFile()
    {
        EdgeRnn.Model.AtomicFile.Write(SeqPath, EncodeSeqFile());
        _seqDirty = false;
    }

    private byte[] EncodeSeqFile()
    {
        byte[] snap = EncodeSnapshot(); // [len][crc][type, count, entries]: reuse the snapshot body
        int bodyLen = snap.Length - HeaderSize - 1;
        byte[] file = new byte[4 + bodyLen + 4];
        "ERSQ"u8.CopyTo(file);
        snap.AsSpan(HeaderSize + 1, bodyLen).CopyTo(file.AsSpan(4));
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4 + bodyLen), Crc32.Compute(file.AsSpan(0, 4 + bodyLen)));
        return file;
    }

    private void ReadSeqFile()
    {
        if (!File.Exists(SeqPath)) return;
        byte[] f = File.ReadAllBytes(SeqPath);
        if (f.Length < 10 || !f.AsSpan(0, 4).SequenceEqual("ERSQ"u8)
            || Crc32.Compute(f.AsSpan(0, f.Length - 4)) != BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(f.Length - 4)))
        {
            _log?.LogWarning("outbox seq file {Path} is damaged: seq numbers come from the spool alone", SeqPath);
            return;
        }
        byte[] body = new byte[1 + f.Length - 8];
        body[0] = TypeSnapshot;
        f.AsSpan(4, f.Length - 8).CopyTo(body.AsSpan(1));
        try { ApplySnapshot(body); }
        catch (ArgumentOutOfRangeException) { _log?.LogWarning("outbox seq file {Path} does not parse: ignored", SeqPath); }
    }

    private long CountMessages(Segment seg, long from)
    {
        long n = 0;
        while (from + HeaderSize <= seg.Length)
        {
            byte[] body = ReadBody(seg, from, out _);
            if (body[0] == TypeMessage) n++;
            from += HeaderSize + body.Length;
        }
        return n;
    }

    private byte[] ReadBody(Segment seg, long offset, out bool valid)
    {
        if (_readHandleSegment != seg.Id || _readHandle is null)
        {
            _readHandle?.Dispose();
            _readHandle = File.OpenHandle(seg.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            _readHandleSegment = seg.Id;
        }
        var body = TryReadRecord(_readHandle, offset, seg.Length);
        valid = body is not null;
        return body ?? throw new InvalidDataException($"outbox segment {seg.Path}: bad record at offset {offset}");
    }

    /// <summary>A record's body if its header and CRC check out within [offset, limit), else null.</summary>
    private static byte[]? TryReadRecord(SafeFileHandle h, long offset, long limit)
    {
        if (offset + HeaderSize > limit) return null;
        Span<byte> hdr = stackalloc byte[HeaderSize];
        if (RandomAccess.Read(h, hdr, offset) != HeaderSize) return null;
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(hdr), crc = BinaryPrimitives.ReadUInt32LittleEndian(hdr[4..]);
        if (len == 0 || len > MaxRecord || offset + HeaderSize + len > limit) return null;
        byte[] body = new byte[len];
        if (RandomAccess.Read(h, body, offset + HeaderSize) != len) return null;
        if (Crc32.Compute(body) != crc) return null;
        if (body[0] is not (TypeMessage or TypeSnapshot)) return null;
        return body;
    }

    private static OutboxMessage DecodeMessage(byte[] body)
    {
        ReadOnlySpan<byte> b = body;
        int p = 1;
        int sl = BinaryPrimitives.ReadUInt16LittleEndian(b[p..]); p += 2;
        string stream = Encoding.UTF8.GetString(b.Slice(p, sl)); p += sl;
        long seq = BinaryPrimitives.ReadInt64LittleEndian(b[p..]); p += 8;
        uint expiry = BinaryPrimitives.ReadUInt32LittleEndian(b[p..]); p += 4;
        int tl = BinaryPrimitives.ReadUInt16LittleEndian(b[p..]); p += 2;
        string topic = Encoding.UTF8.GetString(b.Slice(p, tl)); p += tl;
        return new OutboxMessage(stream, seq, topic, expiry, b[p..].ToArray());
    }

    private void ApplySnapshot(byte[] body)
    {
        ReadOnlySpan<byte> b = body;
        int p = 1;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(b[p..]); p += 2;
        for (int i = 0; i < count; i++)
        {
            int n = BinaryPrimitives.ReadUInt16LittleEndian(b[p..]); p += 2;
            string name = Encoding.UTF8.GetString(b.Slice(p, n)); p += n;
            long seq = BinaryPrimitives.ReadInt64LittleEndian(b[p..]); p += 8;
            if (!_lastSeq.TryGetValue(name, out long s) || seq > s) _lastSeq[name] = seq;
        }
    }

    private byte[] EncodeCursor()
    {
        byte[] c = new byte[20];
        BinaryPrimitives.WriteInt64LittleEndian(c, _segments[_cursorSegment].Id);
        BinaryPrimitives.WriteInt64LittleEndian(c.AsSpan(8), _cursorOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(16), Crc32.Compute(c.AsSpan(0, 16)));
        return c;
    }

    /// <summary>Scan every segment: truncate torn tails, rebuild seq per stream, find the cursor, count what is unsent.</summary>
    private void Recover()
    {
        foreach (string tmp in Directory.GetFiles(_dir, "*.tmp")) TryDelete(tmp);
        var ids = new List<long>();
        foreach (string f in Directory.GetFiles(_dir, "seg-*.log"))
        {
            string name = Path.GetFileNameWithoutExtension(f);
            if (long.TryParse(name.AsSpan(4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long id)
                && id > 0 && SegmentPath(id) == Path.Combine(_dir, Path.GetFileName(f)))
                ids.Add(id);
            else _log?.LogWarning("outbox: ignoring {Path}, which is not a segment this outbox wrote (segments are seg-<12 digits>.log)", f);
        }
        ReadSeqFile();
        ids.Sort();
        foreach (long id in ids)
        {
            string path = SegmentPath(id);
            using var h = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            long len = RandomAccess.GetLength(h), off = 0;
            while (TryReadRecord(h, off, len) is { } body)
            {
                if (body[0] == TypeSnapshot) ApplySnapshot(body);
                else
                {
                    var m = DecodeMessage(body);
                    if (!_lastSeq.TryGetValue(m.Stream, out long s) || m.Seq > s) _lastSeq[m.Stream] = m.Seq;
                }
                off += HeaderSize + body.Length;
            }
            if (off < len)
            {
                _log?.LogWarning("outbox segment {Path}: torn or corrupt record at offset {Offset} of {Length}: truncated there", path, off, len);
                RandomAccess.SetLength(h, off);
                RandomAccess.FlushToDisk(h);
            }
            _segments.Add(new Segment(id, path, off));
        }
        if (_segments.Count == 0)
        {
            var seg = new Segment(1, SegmentPath(1), 0);
            _segments.Add(seg);
            File.OpenHandle(seg.Path, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete).Dispose();
            EdgeRnn.Model.AtomicFile.FsyncDirectory(_dir);
        }
        _writeHandle = File.OpenHandle(_segments[^1].Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

        // cursor: replay from the first segment when it is missing or damaged (duplicates, never losses)
        _cursorSegment = 0;
        _cursorOffset = 0;
        string cpath = Path.Combine(_dir, "cursor");
        if (File.Exists(cpath))
        {
            byte[] c = File.ReadAllBytes(cpath);
            if (c.Length == 20 && Crc32.Compute(c.AsSpan(0, 16)) == BinaryPrimitives.ReadUInt32LittleEndian(c.AsSpan(16)))
            {
                long segId = BinaryPrimitives.ReadInt64LittleEndian(c), off = BinaryPrimitives.ReadInt64LittleEndian(c.AsSpan(8));
                int idx = _segments.FindIndex(s => s.Id == segId);
                if (idx >= 0 && off <= _segments[idx].Length && IsRecordBoundary(_segments[idx], off)) { _cursorSegment = idx; _cursorOffset = off; }
                else if (idx >= 0 && off > _segments[idx].Length)
                {
                    // the damage was truncated away inside records already acknowledged: everything left before the cursor
                    // was published, so re-sending it would deliver those seqs twice; resume at the end of what is left
                    _cursorSegment = idx; _cursorOffset = _segments[idx].Length;
                    _log?.LogWarning("outbox segment {Path}: damaged records were already acknowledged; nothing to re-send", _segments[idx].Path);
                }
                else if (idx < 0 && _segments[0].Id > segId) { /* its segment was acknowledged and deleted: start of the first */ }
                else _log?.LogWarning("outbox cursor does not match the spool: re-sending from the oldest record");
            }
            else _log?.LogWarning("outbox cursor file is damaged: re-sending from the oldest record");
        }
        // drop leading fully-acknowledged segments
        while (_cursorSegment > 0) { TryDelete(_segments[0].Path); _segments.RemoveAt(0); _cursorSegment--; }
        _depth = 0;
        for (int i = _cursorSegment; i < _segments.Count; i++) _depth += CountMessages(_segments[i], i == _cursorSegment ? _cursorOffset : 0);
    }

    private bool IsRecordBoundary(Segment seg, long target)
    {
        long off = 0;
        while (off < target)
        {
            byte[] body = ReadBody(seg, off, out _);
            off += HeaderSize + body.Length;
        }
        return off == target;
    }
}
