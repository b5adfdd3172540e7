package torch

import (
	"bytes"
	bin "encoding/binary"
	"errors"
	"fmt"
)

// rngMagic starts a state written by SaveRNG.
const rngMagic = "RQRNG1\n"

// SaveRNG captures every generator a computation on dev draws from: the CPU generator always, and the default
// generator of dev when dev is a CUDA device (dropout on CUDA draws from it, data order and initialisation on the CPU
// one). RestoreRNG puts both back, so that replaying a step (gradient caching) or resuming a checkpoint draws the same
// numbers.
func SaveRNG(dev Device) ([]byte, error) {
	devs := []Device{CPU}
	if dev.Type == CUDADevice {
		if !CUDAAvailable() {
			return nil, fmt.Errorf("torch: SaveRNG: device %s requested but this libtorch has no usable CUDA device", dev)
		}
		devs = append(devs, dev)
	} else if dev.Type != CPUDevice {
		return nil, fmt.Errorf("torch: SaveRNG: unsupported device %s", dev)
	}
	var b bytes.Buffer
	b.WriteString(rngMagic)
	bin.Write(&b, bin.LittleEndian, uint32(len(devs)))
	for _, d := range devs {
		st, err := RNGState(d)
		if err != nil {
			return nil, fmt.Errorf("torch: SaveRNG: %s: %w", d, err)
		}
		bin.Write(&b, bin.LittleEndian, int32(d.Type))
		bin.Write(&b, bin.LittleEndian, int32(d.Index))
		bin.Write(&b, bin.LittleEndian, uint64(len(st)))
		b.Write(st)
	}
	return b.Bytes(), nil
}

// RestoreRNG restores a state written by SaveRNG for a computation on dev: the CPU generator, and dev's generator
// when dev is a CUDA device and the state holds a CUDA generator (the CUDA state restores into dev, whatever index
// it was saved from, since a resumed process may see its GPU under another number). A CUDA section is ignored when
// dev is the CPU; a state without one leaves dev's generator as it is (a CPU checkpoint resumed on a GPU).
func RestoreRNG(dev Device, state []byte) error {
	secs, err := parseRNG(state)
	if err != nil {
		return err
	}
	if dev.Type == CUDADevice && !CUDAAvailable() {
		return fmt.Errorf("torch: RestoreRNG: device %s requested but this libtorch has no usable CUDA device", dev)
	}
	for _, s := range secs {
		switch {
		case s.dev.Type == CPUDevice:
			err = SetRNGState(CPU, s.state)
		case s.dev.Type == CUDADevice && dev.Type == CUDADevice:
			err = SetRNGState(dev, s.state)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("torch: RestoreRNG: %s generator: %w", s.dev, err)
		}
	}
	return nil
}

type rngSection struct {
	dev   Device
	state []byte
}

func parseRNG(state []byte) ([]rngSection, error) {
	bad := func(what string) error {
		return fmt.Errorf("torch: RestoreRNG: not a generator state written by SaveRNG (%s)", what)
	}
	if !bytes.HasPrefix(state, []byte(rngMagic)) {
		return nil, bad("no header")
	}
	r := bytes.NewReader(state[len(rngMagic):])
	var n uint32
	if err := bin.Read(r, bin.LittleEndian, &n); err != nil || n == 0 || n > 16 {
		return nil, bad("bad section count")
	}
	var out []rngSection
	hasCPU := false
	for i := uint32(0); i < n; i++ {
		var typ, idx int32
		var size uint64
		if bin.Read(r, bin.LittleEndian, &typ) != nil || bin.Read(r, bin.LittleEndian, &idx) != nil ||
			bin.Read(r, bin.LittleEndian, &size) != nil {
			return nil, bad("truncated")
		}
		if size > uint64(r.Len()) {
			return nil, bad("truncated")
		}
		st := make([]byte, size)
		r.Read(st)
		d := Device{Type: DeviceType(typ), Index: int(idx)}
		if d.Type != CPUDevice && d.Type != CUDADevice {
			return nil, bad(fmt.Sprintf("device type %d", typ))
		}
		hasCPU = hasCPU || d.Type == CPUDevice
		out = append(out, rngSection{d, st})
	}
	if r.Len() != 0 {
		return nil, bad("trailing bytes")
	}
	if !hasCPU {
		return nil, errors.New("torch: RestoreRNG: the state has no CPU generator")
	}
	return out, nil
}
