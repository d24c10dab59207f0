/** Synthetic video for SDK tests: an RTCVideoSource fed gray I420 frames, and a frame counter on a sink. */
import wrtc from '@roamhq/wrtc';

export interface FakeCamera {
  stream: MediaStream;
  track: MediaStreamTrack;
  stop(): void;
}

export function fakeCamera(width = 160, height = 120, fps = 15): FakeCamera {
  const source = new wrtc.nonstandard.RTCVideoSource();
  const track = source.createTrack();
  const stream = new wrtc.MediaStream([track]);
  const data = new Uint8Array(width * height * 1.5).fill(128);
  const timer = setInterval(() => source.onFrame({ width, height, data }), Math.round(1000 / fps));
  return {
    stream: stream,
    track: track,
    stop: () => {
      clearInterval(timer);
      track.stop();
    },
  };
}

/** Counts frames decoded from a remote video track. */
export function countFrames(track: MediaStreamTrack): { frames: () => number; stop(): void } {
  const sink = new wrtc.nonstandard.RTCVideoSink(track);
  let n = 0;
  sink.onframe = () => n++;
  return { frames: () => n, stop: () => sink.stop() };
}
